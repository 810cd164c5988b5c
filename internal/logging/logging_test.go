package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
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
