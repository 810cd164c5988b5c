package logging

import (
	"context"

	"bytes"
	"encoding/json"
	"errors"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestCloudLoggingFieldNames(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	log.Warn("refused", "event", "egress_blocked")
	log.Error("broken")
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if lines[0]["severity"] != "WARNING" || lines[0]["message"] != "refused" || lines[0]["event"] != "egress_blocked" || lines[1]["severity"] != "ERROR" {
		t.Fatalf("%v", lines)
	}
}

// A webhook's or a page's secret in its URL never reaches a log line, in a
// message, an attribute or an error's text.
func TestURLsAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	secret := "SUPERSECRET" + t.Name()
	err := &url.Error{Op: "Post", URL: "https://hooks.example.com/hang?token=" + secret, Err: errors.New("context deadline exceeded")}
	log.Warn("webhook failed: https://a.example/x?token="+secret, "event", "webhook_failed", "error", err,
		"target", "http://user:"+secret+"@b.example:8080/p#"+secret, "plain", "no url here")
	out := buf.String()
	if strings.Contains(out, secret) {
		t.Fatalf("the secret is in the log: %s", out)
	}
	for _, want := range []string{`https://hooks.example.com/…`, `https://a.example/…`, `http://b.example:8080/…`, `no url here`, `context deadline exceeded`} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing from %s", want, out)
		}
	}
	if got := RedactURLs("see https://example.com and http://x.test:81"); got != "see https://example.com and http://x.test:81" {
		t.Errorf("a bare host was changed: %s", got)
	}
}

// A line logged with a request's context carries its trace and span in the
// fields Cloud Logging joins on; one without a span carries neither.
func TestTraceFields(t *testing.T) {
	var buf bytes.Buffer
	log := WithTrace(New(&buf, slog.LevelInfo), "proj-1").With("capture", "c1")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "with")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var with, without map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &with); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &without); err != nil {
		t.Fatal(err)
	}
	if with["logging.googleapis.com/trace"] != "projects/proj-1/traces/4bf92f3577b34da6a3ce929d0e0e4736" ||
		with["logging.googleapis.com/spanId"] != "00f067aa0ba902b7" || with["logging.googleapis.com/trace_sampled"] != true ||
		with["capture"] != "c1" {
		t.Errorf("with a span: %s", lines[0])
	}
	if _, ok := without["logging.googleapis.com/trace"]; ok {
		t.Errorf("without a span: %s", lines[1])
	}
}
