package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The operator's dashboard (terraform/dashboard.json.tftpl) drawn with
// sample data, by the service itself from html_content: a reader sees the
// page without a cloud project. DASHBOARD_SCREENSHOT=path saves it
// (docs/dashboard.png).
func TestDashboardPicture(t *testing.T) {
	e := shared
	page, colours := dashboardHTML(t)
	r := e.capture(t, opts{"html_content": page, "window_width": 1200, "window_height": 600, "full_page": true})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	img, _, err := image.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	// Every tile's first series is drawn: its colour is on the page.
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}] = true
		}
	}
	for _, c := range colours {
		if !seen[c] {
			t.Errorf("no pixel of the series colour %v", c)
		}
	}
	if b.Dy() < 1000 {
		t.Errorf("the dashboard is %d px tall: the tiles did not lay out", b.Dy())
	}
	if path := os.Getenv("DASHBOARD_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, r.body, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// sampleLabels are the values a grouped series is drawn for, by metric
// and label.
var sampleLabels = map[string][]string{
	"captures outcome":         {"ok", "NavigationError", "CaptureTimeout"},
	"captures outcome failed":  {"NavigationError", "CaptureTimeout", "TargetStatusError"},
	"capture.duration phase":   {"navigate", "wait", "render", "tab", "clean", "store"},
	"admission.refused reason": {"overloaded", "client_share"},
	"egress.refused class":     {"private", "metadata", "loopback"},
	"auth.failures reason":     {"unknown_token", "expired"},
	"browser.restarts reason":  {"died", "recycle"},
	"renderer.killed reason":   {"renderer_memory", "instance_memory"},
}

// samplesFor is the key of sampleLabels for a data set's filter and group.
func samplesFor(filter, group string) []string {
	metric, _, _ := strings.Cut(strings.TrimPrefix(filter, `metric.type="workload.googleapis.com/pixashot.`), `"`)
	key := metric + " " + strings.TrimPrefix(group, "metric.label.")
	if strings.Contains(filter, `outcome!="ok"`) {
		key += " failed"
	}
	return sampleLabels[key]
}

var palette = []color.RGBA{{0x1a, 0x73, 0xe8, 255}, {0xe3, 0x74, 0x00, 255}, {0x12, 0x86, 0x5a, 255}, {0xc5, 0x22, 0x1f, 255},
	{0x93, 0x34, 0xe6, 255}, {0x00, 0x83, 0x8f, 255}}

// dashboardHTML lays the dashboard's tiles out on its 48-column grid, each
// chart an SVG of made-up but plausible series (a smooth daily curve); it
// returns the page and the first series' colour of each tile.
func dashboardHTML(t *testing.T) (string, []color.RGBA) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "terraform", "dashboard.json.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		DisplayName  string
		MosaicLayout struct {
			Columns int
			Tiles   []struct {
				XPos, YPos, Width, Height int
				Widget                    struct {
					Title   string
					XyChart struct {
						DataSets []struct {
							LegendTemplate  string
							TimeSeriesQuery struct {
								TimeSeriesFilter struct {
									Filter      string
									Aggregation struct{ GroupByFields []string }
								}
							}
						}
						YAxis struct{ Label string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(bytes.ReplaceAll(raw, []byte("${name}"), []byte("pixashot")), &dash); err != nil {
		t.Fatal(err)
	}
	const unitX, unitY = 1200.0 / 48, 18.0
	var b strings.Builder
	fmt.Fprintf(&b, `<html><body style="margin:0;background:#f1f3f4;font-family:sans-serif"><div style="font-size:20px;padding:12px 16px">%s <span style="color:#5f6368;font-size:13px">(sample data)</span></div><div style="position:relative">`,
		html.EscapeString(dash.DisplayName))
	var firsts []color.RGBA
	seed := 1.0
	for _, tile := range dash.MosaicLayout.Tiles {
		w, h := float64(tile.Width)*unitX, float64(tile.Height)*unitY
		fmt.Fprintf(&b, `<div style="position:absolute;left:%.0fpx;top:%.0fpx;width:%.0fpx;height:%.0fpx;box-sizing:border-box;padding:4px">`,
			float64(tile.XPos)*unitX, float64(tile.YPos)*unitY, w, h)
		fmt.Fprintf(&b, `<div style="background:#fff;height:100%%;border-radius:6px;box-shadow:0 1px 2px #0003;padding:8px;box-sizing:border-box"><div style="font-size:13px;color:#202124">%s</div>`,
			html.EscapeString(tile.Widget.Title))
		cw, ch := w-24, h-64
		fmt.Fprintf(&b, `<svg width="%.0f" height="%.0f" style="display:block;margin-top:6px"><line x1="0" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#dadce0"/>`, cw, ch, ch-1, cw, ch-1)
		var legend []string
		n := 0
		for _, ds := range tile.Widget.XyChart.DataSets {
			names := []string{ds.LegendTemplate}
			f := ds.TimeSeriesQuery.TimeSeriesFilter
			for _, g := range f.Aggregation.GroupByFields {
				if names = samplesFor(f.Filter, g); names == nil {
					t.Errorf("no sample labels for %s by %s", f.Filter, g)
				}
			}
			for _, name := range names {
				c := palette[n%len(palette)]
				if n == 0 {
					firsts = append(firsts, c)
				}
				seed++
				level := 0.75 / float64(n+1)
				var pts []string
				for i := 0; i <= 60; i++ {
					v := level * (0.65 + 0.3*math.Sin(float64(i)/9+seed) + 0.05*math.Sin(float64(i)*1.7*seed))
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", float64(i)*cw/60, ch-4-v*(ch-8)))
				}
				fmt.Fprintf(&b, `<polyline fill="none" stroke="rgb(%d,%d,%d)" stroke-width="2.5" points="%s"/>`, c.R, c.G, c.B, strings.Join(pts, " "))
				if name == "" {
					name = tile.Widget.XyChart.YAxis.Label
				}
				legend = append(legend, fmt.Sprintf(`<span style="color:rgb(%d,%d,%d)">■</span> %s`, c.R, c.G, c.B, html.EscapeString(name)))
				n++
			}
		}
		fmt.Fprintf(&b, `</svg><div style="font-size:11px;color:#5f6368;margin-top:4px">%s · %s</div></div></div>`,
			strings.Join(legend, " &nbsp;"), html.EscapeString(tile.Widget.XyChart.YAxis.Label))
	}
	rows := 0
	for _, tile := range dash.MosaicLayout.Tiles {
		rows = max(rows, tile.YPos+tile.Height)
	}
	fmt.Fprintf(&b, `</div><div style="height:%.0fpx"></div></body></html>`, float64(rows)*unitY+8)
	return b.String(), firsts
}
