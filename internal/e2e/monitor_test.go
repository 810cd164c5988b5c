package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/scheduler/fakescheduler"
)

// Monitors on Cloud Scheduler and Cloud Tasks (the real clients against
// the stand-ins): a page that changes between runs gives exactly one
// monitor.changed webhook, verified with the Standard Webhooks library; a
// page that does not change gives none; a page down twice in a row gives
// one monitor.failed.
func TestMonitors(t *testing.T) {
	sched, err := fakescheduler.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Close()
	e, tasks := onCloudTasks(t, func(c *config.Config) {
		c.SchedulerParent, c.SchedulerEndpoint = "projects/test-project/locations/local", sched.Addr
	})
	// Cloud Scheduler's tokens are minted as Cloud Tasks' are, for the same check.
	sched.Token = func(aud, email string) (string, error) { return tasks.Token(aud, email, nil) }
	sched.Target = e.svc.URL
	verifier, err := standardwebhooks.NewWebhook(e.hookSecret)
	if err != nil {
		t.Fatal(err)
	}

	keys := map[string]string{"changing": randomHex(6), "steady": randomHex(6), "flaky": randomHex(6)}
	ids := map[string]string{}
	for name, key := range keys {
		e.watched.Store(key, "ff0000")
		r := e.do(t, "POST", "/monitors", map[string]any{
			"options":  map[string]any{"url": e.page + "/watched/" + key, "window_width": 200, "window_height": 100, "deterministic": true, "fail_on_http_status": "500"},
			"schedule": "*/15 * * * *", "webhook_url": e.page + "/hook", "threshold": 0.05,
		})
		var m struct{ ID string }
		json.Unmarshal(r.body, &m) //nolint:errcheck // checked below
		if r.status != 201 || m.ID == "" {
			t.Fatalf("POST /monitors: %d %s", r.status, r.body)
		}
		ids[name] = m.ID
	}
	jobs := sched.Jobs()
	for _, id := range ids {
		j := jobs["projects/test-project/locations/local/jobs/pixashot-monitor-"+id]
		if j == nil || j.GetSchedule() != "*/15 * * * *" || j.GetHttpTarget().GetOidcToken().GetServiceAccountEmail() != testInvoker {
			t.Fatalf("the scheduler's job for %s: %v", id, j)
		}
	}

	slot := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	// fire runs each monitor's job for slot and waits until its run is recorded.
	fire := func(runs int) {
		t.Helper()
		for _, id := range ids {
			code, err := sched.Fire(context.Background(), "projects/test-project/locations/local/jobs/pixashot-monitor-"+id, slot)
			if err != nil || code != 200 {
				t.Fatalf("firing %s: %d %v", id, code, err)
			}
		}
		// Three captures of CAPTURE_TIMEOUT (20s) at most, through two queues.
		poll.Within(t, 120*time.Second, "the runs of every monitor", func() bool {
			for _, id := range ids {
				if len(e.monitorRuns(t, id)) < runs {
					return false
				}
			}
			return true
		})
		slot = slot.Add(15 * time.Minute)
	}
	fire(1) // baselines
	e.watched.Store(keys["changing"], "0000ff")
	e.watched.Store(keys["flaky"], "down")
	fire(2)
	fire(3)
	// The same slot again (a scheduler retry): one task by name, one run.
	slot = slot.Add(-15 * time.Minute)
	code, _ := sched.Fire(context.Background(), "projects/test-project/locations/local/jobs/pixashot-monitor-"+ids["changing"], slot)
	if code != 200 {
		t.Errorf("a repeated call: %d", code)
	}

	want := map[string][]string{
		"changing": {"unchanged", "changed", "baseline"},
		"steady":   {"unchanged", "unchanged", "baseline"},
		"flaky":    {"failed", "failed", "baseline"},
	}
	for name, id := range ids {
		runs := e.monitorRuns(t, id)
		var got []string
		for _, r := range runs {
			got = append(got, r["status"].(string))
		}
		if strings.Join(got, " ") != strings.Join(want[name], " ") {
			t.Errorf("%s: runs %v, want %v", name, got, want[name])
		}
	}
	changed := e.monitorRuns(t, ids["changing"])[1]
	d, _ := changed["diff"].(map[string]any)
	if d == nil || d["mismatch_ratio"].(float64) < 0.2 || !strings.HasPrefix(d["url"].(string), "http") {
		t.Errorf("the changed run's diff: %v", changed)
	}
	if img := e.download(t, d["url"].(string)); img.Bounds().Dx() != 200 {
		t.Errorf("the diff image: %v", img.Bounds())
	}

	// The webhooks: exactly one monitor.changed, of the changing page, and
	// one monitor.failed, of the flaky one; each verified.
	poll.Within(t, 30*time.Second, "the webhooks", func() bool { return len(e.monitorHooks(t, verifier)) >= 2 })
	events := e.monitorHooks(t, verifier)
	types := map[string]string{}
	for _, ev := range events {
		types[ev.Data.Monitor] += ev.Type + " "
	}
	if len(events) != 2 || types[ids["changing"]] != "monitor.changed " || types[ids["flaky"]] != "monitor.failed " {
		t.Errorf("webhooks: %v", types)
	}

	// The scheduler's route takes nothing but the invoker's token.
	wrong, _ := tasks.Token("http://pixashot.test", "someone@test-project.iam.gserviceaccount.com", nil)
	e.internalRefuses(t, "/internal/tasks/monitor", `{"client":"dev","id":"`+ids["steady"]+`"}`, wrong)
	// DELETE removes the scheduler's job.
	if r := e.do(t, "DELETE", "/monitors/"+ids["steady"], nil); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	if _, ok := sched.Jobs()["projects/test-project/locations/local/jobs/pixashot-monitor-"+ids["steady"]]; ok {
		t.Error("the deleted monitor's job is still there")
	}
}

// monitorRuns is GET /monitors/{id}'s runs, newest first.
func (e *env) monitorRuns(t *testing.T, id string) []map[string]any {
	t.Helper()
	r := e.do(t, "GET", "/monitors/"+id, nil)
	var m struct{ Runs []map[string]any }
	if r.status != 200 || json.Unmarshal(r.body, &m) != nil {
		t.Fatalf("GET /monitors/%s: %d %s", id, r.status, r.body)
	}
	return m.Runs
}

type monitorEvent struct {
	Type string
	Data struct {
		Monitor string `json:"monitor_id"`
	}
}

// monitorHooks are the monitor webhooks received, each verified.
func (e *env) monitorHooks(t *testing.T, v *standardwebhooks.Webhook) []monitorEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []monitorEvent
	for _, h := range e.hooks {
		var ev monitorEvent
		if json.Unmarshal(h.body, &ev) != nil || !strings.HasPrefix(ev.Type, "monitor.") {
			continue
		}
		if err := v.Verify(h.body, h.header); err != nil {
			t.Errorf("a monitor webhook does not verify: %v", err)
		}
		out = append(out, ev)
	}
	return out
}
