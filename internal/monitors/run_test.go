package monitors

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// A monitor's runs with the capture replaced: what each outcome records,
// which of them call the webhook, and what each run compares with.
func TestRuns(t *testing.T) {
	disk, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := store.New(disk, store.Config{URLTTL: time.Minute, Retention: time.Hour})
	raw := make([]byte, 24)
	rand.Read(raw) //nolint:errcheck // never fails
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	verify, _ := standardwebhooks.NewWebhook(secret)
	var mu sync.Mutex
	var events []Event
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := verify.Verify(b, r.Header); err != nil {
			t.Errorf("a webhook does not verify: %v", err)
		}
		var ev Event
		json.Unmarshal(b, &ev) //nolint:errcheck // checked below
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer hooks.Close()

	// The capture: answers in turn, and the compare_to each run sent.
	type answer struct {
		fail  bool
		ratio float64
	}
	var answers []answer
	var compared []string
	stored := map[string]bool{}
	capture := func(_ context.Context, t jobs.Task) jobs.Result {
		var o map[string]any
		json.Unmarshal(t.Request, &o) //nolint:errcheck // the runner's own JSON
		c, _ := o["compare_to"].(string)
		compared = append(compared, c)
		a := answers[0]
		answers = answers[1:]
		if a.fail {
			return jobs.Result{ErrorType: "NavigationError", Message: "the page did not load"}
		}
		stored[t.ID] = true
		res := jobs.Result{Format: "png", Bytes: 100}
		if c != "" {
			res.Diff = &imagediff.Result{MismatchRatio: a.ratio, MismatchPixels: int(a.ratio * 1000), ID: NewID()}
		}
		return res
	}
	link := func(_ context.Context, _, id string) (store.Link, error) {
		if !stored[id] {
			return store.Link{}, store.ErrNotFound
		}
		return store.Link{URL: "https://storage.test/" + id}, nil
	}
	var forgot []string
	r := &Runner{Records: rec, Capture: capture, Link: link, Sender: webhook.NewSender((&net.Dialer{}).DialContext),
		Keys:   func(string) [][]byte { return [][]byte{key} },
		Forget: func(_ context.Context, _, id string) error { forgot = append(forgot, id); return nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	m := &Monitor{ID: NewID(), Client: "acme", Options: json.RawMessage(`{"url":"https://example.com"}`), Schedule: "*/5 * * * *",
		Webhook: hooks.URL, Threshold: 0.01, Created: now}
	if err := Add(ctx, rec, m, 1, now); err != nil {
		t.Fatal(err)
	}
	if err := Add(ctx, rec, &Monitor{ID: NewID(), Client: "acme"}, 1, now); err != ErrTooMany {
		t.Fatalf("a second monitor past MONITORS_MAX=1: %v", err)
	}
	slot := now
	run := func(a answer) {
		t.Helper()
		answers = append(answers, a)
		slot = slot.Add(5 * time.Minute)
		if r.Run(ctx, Task("acme", m.ID, slot, "")) {
			t.Fatal("a run asked to run again")
		}
	}
	run(answer{})             // baseline
	run(answer{ratio: 0.001}) // unchanged
	run(answer{ratio: 0.2})   // changed: a webhook
	run(answer{fail: true})   // one failure: nothing
	run(answer{fail: true})   // the second in a row: a webhook
	run(answer{fail: true})   // the third: nothing more
	run(answer{ratio: 0.0})   // back, and compared with the last good capture
	for id := range stored {
		delete(stored, id) // the lifecycle took every capture
	}
	run(answer{}) // a new baseline, compare_to left out
	// The same slot again (Cloud Scheduler's retry, a duplicate task): skipped.
	if r.Run(ctx, Task("acme", m.ID, slot, "")); len(compared) != 8 {
		t.Errorf("a repeated slot ran again: %d captures", len(compared))
	}

	got, _, err := Get(ctx, rec, "acme", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, run := range got.Runs {
		statuses = append(statuses, run.Status)
	}
	want := []string{Baseline, Unchanged, Failed, Failed, Failed, Changed, Unchanged, Baseline}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("runs, newest first: %v, want %v", statuses, want)
		}
	}
	if compared[0] != "" || compared[1] == "" || compared[2] == "" || compared[2] == compared[1] || compared[7] != "" {
		t.Errorf("compare_to of each run: %v", compared)
	}
	if compared[6] != compared[3] { // after the failures: the last capture that succeeded
		t.Errorf("after failures, compared with %s, want %s", compared[6], compared[3])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0].Type != "monitor.changed" || events[1].Type != "monitor.failed" {
		t.Fatalf("webhooks: %+v", events)
	}
	if e := events[0].Data; e.Monitor != m.ID || e.Run.Diff == nil || e.Run.Diff.MismatchRatio != 0.2 || e.Run.CaptureURL == "" {
		t.Errorf("monitor.changed: %+v", e)
	}
	if e := events[1].Data; e.Run.ErrorType != "NavigationError" || e.Run.CaptureID != "" {
		t.Errorf("monitor.failed: %+v", e)
	}

	// Deleted: a run that still arrives unschedules it and captures nothing.
	if err := Remove(ctx, rec, "acme", m.ID); err != nil {
		t.Fatal(err)
	}
	if r.Run(ctx, Task("acme", m.ID, slot.Add(time.Hour), "")); len(compared) != 8 || len(forgot) != 1 {
		t.Errorf("a deleted monitor's run: %d captures, forgot %v", len(compared), forgot)
	}
	if ms, err := List(ctx, rec, "acme"); err != nil || len(ms) != 0 {
		t.Errorf("after the deletion: %v %v", ms, err)
	}
}
