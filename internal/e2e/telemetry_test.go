package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pixashot/pixashot-cloudrun/internal/audit/fakelogging"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry/faketelemetry"
)

// traffic is the known mix both exporters are checked against: two good
// captures (one continuing the caller's trace), one refused option, one
// navigation the guard refuses, a bad token, and a batch of two with its
// webhooks. It returns the batch's ids once its webhooks arrived.
func traffic(t *testing.T, e *env, traceparent string) map[string]bool {
	t.Helper()
	h := http.Header{"Traceparent": {traceparent}}
	if r := e.doWith(t, "POST", "/capture", opts{"url": e.page + "/traced", "window_width": 64, "window_height": 64}, h); r.status != 200 {
		t.Fatalf("capture: %d %s", r.status, r.body)
	}
	if r := e.capture(t, opts{"url": e.page + "/color?c=0000ff", "window_width": 32, "window_height": 32}); r.status != 200 {
		t.Fatalf("capture: %d %s", r.status, r.body)
	}
	if r := e.capture(t, opts{"url": e.page, "format": "bmp"}); r.status != 400 {
		t.Fatalf("a bad option: %d %s", r.status, r.body)
	}
	if r := e.capture(t, opts{"url": "http://meta.test:" + strconv.Itoa(e.port) + "/", "wait_for_timeout": 5000}); r.status != 502 {
		t.Fatalf("a refused target: %d %s", r.status, r.body)
	}
	bad, _ := http.NewRequest("POST", e.svc.URL+"/capture", strings.NewReader(`{}`))
	bad.Header.Set("Authorization", "Bearer wrong-"+e.token)
	if resp, err := http.DefaultClient.Do(bad); err == nil {
		resp.Body.Close()
	}
	r := e.doWith(t, "POST", "/captures", map[string]any{"webhook_url": e.page + "/hook", "batch": []opts{
		{"url": e.page + "/color?c=ff00ff", "window_width": 32, "window_height": 32},
		{"url": e.page + "/color?c=00ffff", "window_width": 32, "window_height": 32}}}, h)
	if r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var accepted struct{ IDs []string }
	json.Unmarshal(r.body, &accepted) //nolint:errcheck // checked below
	ids := map[string]bool{}
	for _, id := range accepted.IDs {
		ids[id] = true
	}
	poll.Within(t, 60*time.Second, "2 webhooks", func() bool { return len(e.hooksFor(ids)) >= 2 })
	return ids
}

// noTraceLeaves checks that the caller's trace id reached neither the page
// nor the webhook receiver.
func noTraceLeaves(t *testing.T, e *env, traceID string, ids map[string]bool) {
	t.Helper()
	sent := []http.Header{e.lastHeaders("/traced")}
	for _, h := range e.hooksFor(ids) {
		sent = append(sent, h.header)
	}
	for _, h := range sent {
		for k, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, traceID) || strings.EqualFold(k, "traceparent") || strings.EqualFold(k, "X-Cloud-Trace-Context") {
					t.Errorf("a trace id left the service: %s: %s", k, v)
				}
			}
		}
	}
}

// labelsClean fails on a label value that could be a URL, a host, a token
// or a request id.
func labelsClean(t *testing.T, e *env, labels map[string]string, ids map[string]bool) {
	t.Helper()
	for k, v := range labels {
		if strings.Contains(v, "/") || strings.Contains(v, "127.0.0") || strings.Contains(v, ".test") ||
			strings.Contains(v, e.token[:16]) || ids[v] || len(v) > 40 {
			t.Errorf("label %s=%q is not low-cardinality", k, v)
		}
	}
}

// expected is what traffic leaves in either exporter: a metric under its
// OpenTelemetry and its Prometheus name, labels it must have, and the least
// count (a counter's value, a histogram's observations; -1: the gauge is
// there).
var expected = []struct {
	metric, prom string
	labels       map[string]string
	min          float64
}{
	{"pixashot.captures", "pixashot_captures_total", map[string]string{"outcome": "ok", "format": "png", "client": "dev"}, 4},
	{"pixashot.captures", "pixashot_captures_total", map[string]string{"outcome": "ValidationError"}, 1},
	{"pixashot.captures", "pixashot_captures_total", map[string]string{"outcome": "NavigationError"}, 1},
	{"pixashot.capture.bytes", "pixashot_capture_bytes", map[string]string{"format": "png"}, 4},
	{"pixashot.auth.failures", "pixashot_auth_failures_total", map[string]string{"reason": "unknown_token"}, 1},
	{"pixashot.egress.refused", "pixashot_egress_refused_total", map[string]string{"class": "loopback", "client": "dev"}, 1},
	{"pixashot.egress.refused", "pixashot_egress_refused_total", map[string]string{"class": "metadata", "client": "dev"}, 2},
	{"pixashot.jobs.age", "pixashot_jobs_age_seconds", nil, 2},
	{"pixashot.webhooks.deliveries", "pixashot_webhooks_deliveries_total", map[string]string{"outcome": "delivered"}, 2},
	{"pixashot.capture.duration", "pixashot_capture_duration_seconds", map[string]string{"phase": "total"}, 4},
	{"pixashot.capture.duration", "pixashot_capture_duration_seconds", map[string]string{"phase": "navigate"}, 4},
	{"pixashot.admission.running", "pixashot_admission_running", nil, -1},
	{"pixashot.admission.waiting", "pixashot_admission_waiting", nil, -1},
	{"pixashot.jobs.queued", "pixashot_jobs_queued", nil, -1},
}

// has reports whether got holds every label of want.
func has(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestMetricsAndTracesReachCloudMonitoringAndTrace(t *testing.T) {
	fake, err := faketelemetry.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Stop) // after the service's own cleanup, which flushes to them
	logs, err := fakelogging.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(logs.Stop)
	e := own(t, func(c *config.Config) {
		c.MetricsExporter, c.MonitoringEndpoint, c.TraceEndpoint = "gcp", fake.Addr, fake.Addr
		c.AuditProject, c.LoggingEndpoint = "obs-proj", logs.Addr
		c.TraceSampleRatio = 0 // only the callers' sampled traces
		c.MetricsInterval = time.Second
	})
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ids := traffic(t, e, "00-"+traceID+"-"+parent+"-01")
	noTraceLeaves(t, e, traceID, ids)
	// Sent on the interval while the instance runs (a gauge of its Chrome's
	// memory, read then), and what is left when it closes.
	poll.Within(t, 30*time.Second, "browser.memory in Cloud Monitoring", func() bool {
		for _, ts := range fake.Series() {
			if ts.GetMetric().GetType() == "workload.googleapis.com/pixashot.browser.memory" &&
				ts.GetPoints()[0].GetValue().GetInt64Value() > 10<<20 {
				return true
			}
		}
		return false
	})
	e.app.Close() // flushes both exporters

	// The last point of each series (the exporter sends cumulative sums).
	type key struct{ metric, labels string }
	last := map[key]*monitoringpb.TimeSeries{}
	for _, ts := range fake.Series() {
		labelsClean(t, e, ts.GetMetric().GetLabels(), ids)
		b, _ := json.Marshal(ts.GetMetric().GetLabels())
		last[key{ts.GetMetric().GetType(), string(b)}] = ts
	}
	value := func(metric string, want map[string]string) (n float64, found bool) {
		for k, ts := range last {
			if k.metric != "workload.googleapis.com/"+metric || !has(ts.GetMetric().GetLabels(), want) {
				continue
			}
			found = true
			v := ts.GetPoints()[0].GetValue()
			if d := v.GetDistributionValue(); d != nil {
				n += float64(d.GetCount())
			} else {
				n += float64(v.GetInt64Value())
			}
		}
		return n, found
	}
	for _, c := range expected {
		if n, ok := value(c.metric, c.labels); !ok || n < c.min {
			t.Errorf("%s%v: %v (found %v), want at least %v", c.metric, c.labels, n, ok, c.min)
		}
	}
	for _, phase := range []string{"queue", "tab", "navigate", "wait", "clean", "render", "encode", "store", "total"} {
		if n, _ := value("pixashot.capture.duration", map[string]string{"phase": phase}); n < 1 {
			t.Errorf("no capture.duration for phase %s", phase)
		}
	}
	if len(fake.Descriptors()) < 10 {
		t.Errorf("%d metric descriptors created", len(fake.Descriptors()))
	}

	// Spans: the capture request continues the caller's span; its phases
	// and the batch's job and webhook are in the same trace.
	prefix := "projects/obs-proj/traces/" + traceID + "/spans/"
	byID := map[string]string{} // span id → display name
	var names []string
	for _, sp := range fake.Spans() {
		if strings.HasPrefix(sp.GetName(), prefix) {
			id := strings.TrimPrefix(sp.GetName(), prefix)
			byID[id] = sp.GetDisplayName().GetValue()
			names = append(names, sp.GetDisplayName().GetValue())
		}
	}
	rooted := 0
	for _, sp := range fake.Spans() {
		if strings.HasPrefix(sp.GetName(), prefix) && sp.GetParentSpanId() == parent {
			rooted++
		}
	}
	if rooted != 2 { // POST /capture and POST /captures
		t.Errorf("%d spans have the caller's span as parent, want 2; spans: %v", rooted, names)
	}
	for _, want := range []string{"POST /capture", "POST /captures", "admission", "capture", "tab", "navigate", "render", "encode", "store", "job", "webhook"} {
		if !slices.Contains(names, want) {
			t.Errorf("no span %q in the caller's trace: %v", want, names)
		}
	}
	// The request's log lines name the trace, so Cloud Logging shows them
	// under it.
	if !strings.Contains(e.logs.String(), `"logging.googleapis.com/trace":"projects/obs-proj/traces/`+traceID+`"`) {
		t.Error("no log line names the trace")
	}
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, `"message":"capture done"`) && strings.Contains(line, traceID) && !strings.Contains(line, `"logging.googleapis.com/spanId"`) {
			t.Errorf("a capture's line has the trace but no span: %s", line)
		}
	}
}

func TestPrometheusMetricsPage(t *testing.T) {
	token := randomHex(24)
	e := own(t, func(c *config.Config) { c.MetricsExporter, c.MetricsToken = "prometheus", token })
	ids := traffic(t, e, "00-"+randomHex(16)+"-"+randomHex(8)+"-01")

	get := func(bearer string) result {
		h := http.Header{}
		if bearer != "" {
			h.Set("Authorization", "Bearer "+bearer)
		}
		req, _ := http.NewRequest("GET", e.svc.URL+"/metrics", nil)
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body) //nolint:errcheck // the status says enough
		return result{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
	}
	if r := get(""); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	if r := get(e.token); r.status != 403 { // a client's token is not the metrics token
		t.Errorf("a client's token: %d", r.status)
	}
	r := get(token)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, r.body)
	}
	labelsOf := func(m *dto.Metric) map[string]string {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		return labels
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labelsClean(t, e, labelsOf(m), ids)
		}
	}
	// The same traffic gives the same figures as in Cloud Monitoring.
	for _, c := range append(expected[:len(expected):len(expected)],
		struct {
			metric, prom string
			labels       map[string]string
			min          float64
		}{"pixashot.browser.memory", "pixashot_browser_memory_bytes", nil, 10 << 20}) {
		f := families[c.prom]
		if f == nil {
			t.Errorf("no family %s", c.prom)
			continue
		}
		var n float64
		for _, m := range f.GetMetric() {
			if has(labelsOf(m), c.labels) {
				n += value(m)
			}
		}
		if n < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.prom, c.labels, n, c.min)
		}
	}
	if strings.Contains(string(r.body), token) || strings.Contains(string(r.body), e.token) {
		t.Error("a token is on the metrics page")
	}
}

// value is a sample's count or value, whatever its type.
func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}
