package faults

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jobEnds counts, per capture id, the "async capture ended" lines of a log
// (or, with events, the lines of those events).
func jobEnds(log string, events ...string) map[string]int {
	if len(events) == 0 {
		events = []string{"job_done", "job_failed"}
	}
	out := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var m struct {
			Event, Capture string
		}
		if json.Unmarshal([]byte(line), &m) == nil && slices.Contains(events, m.Event) {
			out[m.Capture]++
		}
	}
	return out
}

// A batch accepted with 202 survives kill -9 of the process mid-batch:
// after a restart on the same STORAGE_DIR every id ends done, with its
// capture and its webhook, and none is captured to completion twice.
func TestEmbeddedQueueSurvivesKill9(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(randomHex(16)))
	s1 := start(t, "WEBHOOK_SIGNING_KEY="+secret)
	var batch []map[string]any
	for i := range 30 {
		batch = append(batch, map[string]any{"url": fmt.Sprintf("%s/?ms=250&i=%d", s1.page, i), "window_width": 320, "window_height": 200})
	}
	body, _ := json.Marshal(map[string]any{"batch": batch, "webhook_url": s1.page + "/hook"})
	r := s1.do("POST", "/captures", body)
	var acc struct {
		BatchID string   `json:"batch_id"`
		IDs     []string `json:"ids"`
	}
	if json.Unmarshal(r.body, &acc); r.status != 202 || len(acc.IDs) != 30 {
		t.Fatalf("POST /captures: %d %s", r.status, r.body)
	}
	if !waitFor(60*time.Second, func() bool { return len(jobEnds(s1.logs.String())) >= 5 }) {
		t.Fatal("no capture of the batch ended")
	}
	chrome := s1.chrome()
	s1.cmd.Process.Signal(syscall.SIGKILL)
	<-s1.exit
	if chrome > 0 {
		syscall.Kill(-chrome, syscall.SIGKILL) // as the platform would: the whole instance is gone
	}
	before := jobEnds(s1.logs.String())
	if len(before) >= 30 {
		t.Fatal("the batch ended before the kill; the test proves nothing")
	}

	// The same directory, a new process.
	port := strings.TrimPrefix(s1.page, "http://127.0.0.2:")
	s2 := start(t, "WEBHOOK_SIGNING_KEY="+secret, "STORAGE_DIR="+s1.store, "AUTH_TOKEN="+s1.token, "EGRESS_ALLOW_PORTS="+port)
	s2.token = s1.token
	var view struct {
		Status string         `json:"status"`
		Counts map[string]int `json:"counts"`
	}
	if !waitFor(90*time.Second, func() bool {
		json.Unmarshal(s2.do("GET", "/batches/"+acc.BatchID, nil).body, &view) //nolint:errcheck // polled
		return view.Status == "done"
	}) {
		t.Fatalf("the batch did not end after the restart: %+v", view)
	}
	if view.Counts["done"] != 30 {
		t.Errorf("after the restart: %+v", view.Counts)
	}
	// The batch reads done once the last record is written; its log line
	// follows a moment later (longer on a busy machine).
	var after, found map[string]int
	waitFor(10*time.Second, func() bool {
		after = jobEnds(s2.logs.String())
		// A job whose end was recorded just before the kill, and not yet
		// logged, is found ended at the restart (and not captured again).
		found = jobEnds(s2.logs.String(), "job_already_ended")
		for _, id := range acc.IDs {
			if before[id]+after[id]+found[id] == 0 {
				return false
			}
		}
		return true
	})
	for _, id := range acc.IDs {
		if n := before[id] + after[id]; n != 1 && (n != 0 || found[id] == 0) {
			t.Errorf("%s ended %d times (before the kill %d, after %d)", id, n, before[id], after[id])
		}
		var j struct{ Status, URL string }
		json.Unmarshal(s2.do("GET", "/captures/"+id, nil).body, &j) //nolint:errcheck // checked below
		resp, err := http.Get(j.URL)
		if err != nil || resp.StatusCode != 200 || j.Status != "done" {
			t.Errorf("%s: %s, download %v %v", id, j.Status, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	waitFor(30*time.Second, func() bool {
		s1.mu.Lock()
		defer s1.mu.Unlock()
		return len(s1.hooks) >= 30
	})
	s1.mu.Lock()
	defer s1.mu.Unlock()
	for _, id := range acc.IDs {
		if s1.hooks["msg_"+id] == 0 {
			t.Errorf("no webhook for %s", id)
		}
	}
	t.Logf("%d ended before the kill, %d after; webhooks %d", len(before), len(after), len(s1.hooks))
}
