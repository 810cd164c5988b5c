package logging

import (
	"bytes"
	"encoding/json"
	"errors"
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
