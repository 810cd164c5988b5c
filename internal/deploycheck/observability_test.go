package deploycheck

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
)

// workloadName is a metric of the service as Cloud Monitoring names it.
var workloadName = regexp.MustCompile(`workload\.googleapis\.com/(pixashot\.[a-z_]+(?:\.[a-z_]+)*)`)

// The alerts and the dashboard use the service's metric names and no
// other; each alert says what to do.
func TestAlertsAndDashboardUseTheServicesMetrics(t *testing.T) {
	tf := loadTerraform(t)
	raw, err := os.ReadFile(filepath.Join(root, "terraform", "dashboard.json.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	text := tf.text + string(raw)
	text = strings.ReplaceAll(text, `workload}.`, `workload.googleapis.com/pixashot.`) // the alerts' local
	for _, m := range workloadName.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(telemetry.Names, m[1]) {
			t.Errorf("terraform/ names %s, which the service does not write", m[1])
		}
	}
	if !strings.Contains(tf.text, `workload = "workload.googleapis.com/pixashot"`) {
		t.Error("the alerts' metric prefix changed")
	}

	for _, want := range []string{"browser.restarts", "egress.refused", "auth.failures", "jobs.age"} {
		re := regexp.MustCompile(`filter\s+=\s+"metric\.type = \\"\$\{local\.workload\}\.` + regexp.QuoteMeta(want) + `\\"[^\n]*\n(?:.*\n){0,6}?\s+doc\s+=\s+"([^"]+)"`)
		m := re.FindStringSubmatch(tf.text)
		if m == nil {
			t.Errorf("no alert on pixashot.%s", want)
			continue
		}
		if !strings.Contains(m[1], "Runbook") {
			t.Errorf("the alert on pixashot.%s does not say what to do: %s", want, m[1])
		}
	}
	if !regexp.MustCompile(`group_by\s+=\s+\["metric\.label\.client"\]`).MatchString(tf.text) {
		t.Error("egress refusals are not alerted on per client")
	}

	// The dashboard: valid JSON once rendered, the golden signals on it.
	var dash struct {
		MosaicLayout struct {
			Tiles []struct {
				Widget struct {
					Title   string
					XyChart struct {
						DataSets []struct {
							TimeSeriesQuery struct {
								TimeSeriesFilter struct{ Filter string }
							}
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(raw), "${name}", "pixashot")), &dash); err != nil {
		t.Fatalf("dashboard.json.tftpl: %v", err)
	}
	var filters []string
	for _, tile := range dash.MosaicLayout.Tiles {
		for _, ds := range tile.Widget.XyChart.DataSets {
			filters = append(filters, ds.TimeSeriesQuery.TimeSeriesFilter.Filter)
		}
	}
	all := strings.Join(filters, "\n")
	for _, signal := range []string{"pixashot.captures", "pixashot.capture.duration", "REDUCE_PERCENTILE_99", "pixashot.admission.running",
		"pixashot.jobs.queued", "pixashot.browser.memory"} {
		if !strings.Contains(all+string(raw), signal) {
			t.Errorf("the dashboard has no %s", signal)
		}
	}
	if d := tf.resource(t, "google_monitoring_dashboard", "service"); !strings.Contains(d.source("dashboard_json"), "dashboard.json.tftpl") {
		t.Error("the dashboard resource does not render dashboard.json.tftpl")
	}
	// Its picture, for readers without a project.
	f, err := os.Open(filepath.Join(root, "docs", "dashboard.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.DecodeConfig(f); err != nil {
		t.Errorf("docs/dashboard.png: %v", err)
	}
}
