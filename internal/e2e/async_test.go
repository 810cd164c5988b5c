package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/tasks/faketasks"
)

// Asynchronous captures (issue 18) on the embedded queue, against the real
// browser: a batch of 50 ends with 50 signed webhooks and 50 downloads.

type event struct {
	Type string `json:"type"`
	Data struct {
		ID        string `json:"id"`
		Batch     string `json:"batch_id"`
		Status    string `json:"status"`
		URL       string `json:"url"`
		Format    string `json:"format"`
		Bytes     int64  `json:"bytes"`
		ErrorType string `json:"error_type"`
	} `json:"data"`
}

func (e *env) hooksFor(ids map[string]bool) []hook {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []hook
	for _, h := range e.hooks {
		if ids[strings.TrimPrefix(h.header.Get("webhook-id"), "msg_")] {
			out = append(out, h)
		}
	}
	return out
}

func TestAsyncBatchWithSignedWebhooks(t *testing.T) {
	e := shared
	verifier, err := standardwebhooks.NewWebhook(e.hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	var batch []map[string]any
	colours := map[string]string{}
	for i := range 50 {
		c := fmt.Sprintf("%02x%02x%02x", i*5, 255-i*5, 128)
		batch = append(batch, map[string]any{"url": e.page + "/color?c=" + c, "window_width": 320, "window_height": 200})
		colours[e.page+"/color?c="+c] = c
	}
	body := map[string]any{"batch": batch, "webhook_url": e.page + "/hook"}
	key := http.Header{"Idempotency-Key": {"batch-" + randomHex(8)}}
	start := time.Now()
	r := e.doWith(t, "POST", "/captures", body, key)
	if r.status != 202 {
		t.Fatalf("POST /captures: %d %s", r.status, r.body)
	}
	var accepted struct {
		BatchID string   `json:"batch_id"`
		IDs     []string `json:"ids"`
		Status  string   `json:"status"`
	}
	json.Unmarshal(r.body, &accepted) //nolint:errcheck // checked below
	if len(accepted.IDs) != 50 || accepted.BatchID == "" || accepted.Status != "queued" {
		t.Fatalf("accepted: %s", r.body)
	}
	ids := map[string]bool{}
	for _, id := range accepted.IDs {
		ids[id] = true
	}
	// The same key and body: the same ids, no second job.
	again := e.doWith(t, "POST", "/captures", body, key)
	if again.status != 202 || string(again.body) != string(r.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the same Idempotency-Key again: %d %s", again.status, again.body)
	}
	other := e.doWith(t, "POST", "/captures", map[string]any{"url": e.page + "/color"}, key)
	if other.status != 400 || other.errorJSON(t)["field"] != "Idempotency-Key" {
		t.Errorf("the key with another body: %d %s", other.status, other.body)
	}

	poll.Within(t, 120*time.Second, "50 webhooks", func() bool { return len(e.hooksFor(ids)) >= 50 })
	t.Logf("50 captures and webhooks in %v", time.Since(start).Round(time.Millisecond))
	seen := map[string]bool{}
	for _, h := range e.hooksFor(ids) {
		if err := verifier.Verify(h.body, h.header); err != nil {
			t.Errorf("a webhook does not verify with the reference library: %v", err)
		}
		var ev event
		if err := json.Unmarshal(h.body, &ev); err != nil || ev.Type != "capture.done" || ev.Data.Status != "done" ||
			ev.Data.Batch != accepted.BatchID || ev.Data.URL == "" || ev.Data.Format != "png" {
			t.Errorf("webhook body: %s", h.body)
			continue
		}
		if seen[ev.Data.ID] {
			t.Errorf("a second webhook for %s", ev.Data.ID)
		}
		seen[ev.Data.ID] = true
		resp, err := http.Get(ev.Data.URL)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || decodeImage(t, img).Bounds().Dx() != 320 {
			t.Errorf("download of %s: %d", ev.Data.ID, resp.StatusCode)
		}
	}
	if len(seen) != 50 {
		t.Errorf("%d distinct captures reported", len(seen))
	}
	// The batch and each job report their state.
	b := e.do(t, "GET", "/batches/"+accepted.BatchID, nil)
	var view struct {
		Status string         `json:"status"`
		Counts map[string]int `json:"counts"`
		Items  []struct {
			ID, Status, URL string
		} `json:"items"`
	}
	json.Unmarshal(b.body, &view) //nolint:errcheck // checked below
	if b.status != 200 || view.Status != "done" || view.Counts["done"] != 50 || len(view.Items) != 50 || view.Items[0].URL == "" {
		t.Errorf("GET /batches: %d %.300s", b.status, b.body)
	}
	j := e.do(t, "GET", "/captures/"+accepted.IDs[7], nil)
	var jv map[string]any
	json.Unmarshal(j.body, &jv) //nolint:errcheck // checked below
	if j.status != 200 || jv["status"] != "done" || jv["url"] == nil || jv["bytes"] == nil {
		t.Errorf("GET /captures/{id}: %d %s", j.status, j.body)
	}
	if hooks := e.hooksFor(ids); len(hooks) != 50 {
		t.Errorf("%d webhooks: the replayed submission ran again", len(hooks))
	}
	// DELETE takes the capture and its record.
	if d := e.do(t, "DELETE", "/captures/"+accepted.IDs[7], nil); d.status != 204 {
		t.Errorf("DELETE: %d %s", d.status, d.body)
	}
	if g := e.do(t, "GET", "/captures/"+accepted.IDs[7], nil); g.status != 404 {
		t.Errorf("GET after DELETE: %d %s", g.status, g.body)
	}
}

func TestAsyncSingleFailureAndRetriedWebhook(t *testing.T) {
	e := shared
	r := e.do(t, "POST", "/captures", map[string]any{"url": e.page + "/clean/status/404", "fail_on_http_status": "404",
		"webhook_url": e.page + "/hook?fail=2"})
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var acc struct{ ID, Status string }
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	ids := map[string]bool{acc.ID: true}
	// Two 503s, then the receiver takes it: three tries of one message.
	poll.Within(t, 60*time.Second, "three tries of the webhook", func() bool { return len(e.hooksFor(ids)) >= 3 })
	hooks := e.hooksFor(ids)
	var ev event
	json.Unmarshal(hooks[2].body, &ev) //nolint:errcheck // checked below
	if ev.Type != "capture.failed" || ev.Data.ErrorType != "TargetStatusError" || ev.Data.URL != "" {
		t.Errorf("webhook: %s", hooks[2].body)
	}
	if hooks[0].header.Get("webhook-id") != hooks[2].header.Get("webhook-id") {
		t.Error("a retry changed the message id")
	}
	var j map[string]any
	poll.Until(t, "the webhook's delivery recorded", func() bool {
		json.Unmarshal(e.do(t, "GET", "/captures/"+acc.ID, nil).body, &j) //nolint:errcheck // checked below
		w, _ := j["webhook"].(map[string]any)
		return w != nil && w["state"] == "delivered"
	})
	if j["status"] != "failed" || j["error_type"] != "TargetStatusError" || j["webhook"].(map[string]any)["attempts"] != 3.0 {
		t.Errorf("GET /captures/{id}: %v", j)
	}
}

func TestAsyncValidation(t *testing.T) {
	e := shared
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"batch": []any{map[string]any{"url": e.page}, map[string]any{"url": e.page, "window_width": 0}}}, "batch[1].window_width"},
		{map[string]any{"batch": []any{}}, "batch"},
		{map[string]any{"batch": []any{map[string]any{"url": e.page}, 1}}, "batch[1]"},
		{map[string]any{"batch": []any{map[string]any{"url": e.page, "response_type": "empty"}}}, "batch[0].response_type"},
		{map[string]any{"batch": []any{map[string]any{"url": e.page}}, "format": "pdf"}, "format"},
		{map[string]any{"url": e.page, "response_type": "json"}, "response_type"},
		{map[string]any{"url": e.page, "webhook_url": "ftp://example.com/"}, "webhook_url"},
		{map[string]any{"url": e.page, "webhook_url": "http://127.0.0.2:6379/"}, "webhook_url"}, // allowed address, not an allowed port
		{map[string]any{"url": e.page, "nope": 1}, "nope"},
		{`[1,2]`, "body"},
	} {
		r := e.do(t, "POST", "/captures", c.body)
		if r.status != 400 || r.errorJSON(t)["field"] != c.field {
			t.Errorf("%v: %d %s; want 400 naming %s", c.body, r.status, r.body, c.field)
		}
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = map[string]any{"url": e.page}
	}
	if r := e.do(t, "POST", "/captures", map[string]any{"batch": many}); r.status != 400 || !strings.Contains(string(r.body), "BATCH_MAX") {
		t.Errorf("101 items: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/batches/"+randomHex(12), nil); r.status != 404 {
		t.Errorf("an unknown batch: %d", r.status)
	}
}

// Every address class of the egress suite, as a webhook_url: refused, and
// the secret server sees nothing. A redirect to it is not followed.
func TestWebhookSSRF(t *testing.T) {
	e := shared
	for _, target := range blockedTargets(e) {
		r := e.do(t, "POST", "/captures", map[string]any{"url": e.page + "/color", "webhook_url": target})
		if r.status != 400 || r.errorJSON(t)["field"] != "webhook_url" {
			t.Errorf("webhook_url %s: %d %s", target, r.status, r.body)
		}
	}
	redirect := e.page + "/redirect?code=307&to=" + "http://127.0.0.1:" + fmt.Sprint(e.port) + "/"
	r := e.do(t, "POST", "/captures", map[string]any{"url": e.page + "/color", "webhook_url": redirect})
	var acc struct{ ID string }
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	if r.status != 202 {
		t.Fatalf("a redirecting receiver: %d %s", r.status, r.body)
	}
	var j map[string]any
	poll.Within(t, 60*time.Second, "the webhook's end", func() bool {
		json.Unmarshal(e.do(t, "GET", "/captures/"+acc.ID, nil).body, &j) //nolint:errcheck // checked below
		w, _ := j["webhook"].(map[string]any)
		return w != nil && w["state"] != "pending"
	})
	if w := j["webhook"].(map[string]any); w["state"] != "failed" || w["status"] != 307.0 {
		t.Errorf("webhook to a redirect: %v", w)
	}
	if n := e.secretHits.Load(); n != 0 {
		t.Fatalf("the secret server was hit %d times", n)
	}
}

// The Cloud Tasks queue of the tests, and the service's invoker account.
const (
	testQueue   = "projects/test-project/locations/local/queues/pixashot"
	testInvoker = "pixashot-tasks@test-project.iam.gserviceaccount.com"
)

// onCloudTasks is a service of its own on the Cloud Tasks stand-in, which
// delivers to it; mod adjusts its configuration further. Both end with t.
func onCloudTasks(t *testing.T, mod func(*config.Config)) (*env, *faketasks.Server) {
	t.Helper()
	fake, err := faketasks.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e, err := newEnv(func(c *config.Config) {
		c.TasksQueue, c.TasksEndpoint, c.TasksURL, c.TasksInvoker, c.TasksCertsURL =
			testQueue, fake.Addr, "http://pixashot.test", testInvoker, fake.CertsURL
		if mod != nil {
			mod(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	fake.Target = e.svc.URL
	return e, fake
}

// internalRefuses checks that an internal route takes nothing but the
// invoker's token: not a client's, not wrong (another account's), not none.
func (e *env) internalRefuses(t *testing.T, path, body, wrong string) {
	t.Helper()
	for name, auth := range map[string]string{"a client's token": "Bearer " + e.token, "another account": "Bearer " + wrong, "none": ""} {
		req, _ := http.NewRequest("POST", e.svc.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("%s on %s: %d", name, path, resp.StatusCode)
		}
	}
}

// The same on Cloud Tasks: the real client against the stand-in, which
// calls the service's internal route with an OIDC token of the invoker.
func TestAsyncOnCloudTasks(t *testing.T) {
	e, fake := onCloudTasks(t, nil)
	var batch []any
	for i := range 5 {
		batch = append(batch, map[string]any{"url": e.page + "/color?c=0000" + fmt.Sprintf("%02x", i*40), "window_width": 200, "window_height": 100})
	}
	r := e.do(t, "POST", "/captures", map[string]any{"batch": batch, "webhook_url": e.page + "/hook"})
	var acc struct {
		IDs []string `json:"ids"`
	}
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	if r.status != 202 || len(acc.IDs) != 5 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ids := map[string]bool{}
	for _, id := range acc.IDs {
		ids[id] = true
	}
	poll.Within(t, 60*time.Second, "5 webhooks through Cloud Tasks", func() bool { return len(e.hooksFor(ids)) >= 5 })
	// The webhook goes out inside the delivery: its 200 comes just after.
	poll.Until(t, "the deliveries' answers", func() bool {
		done := 0
		for _, rec := range fake.Tasks() {
			if rec.Done {
				done++
			}
		}
		return done == 5
	})
	tasks := fake.Tasks()
	for _, id := range acc.IDs {
		rec, ok := tasks[testQueue+"/tasks/"+id]
		if !ok || !rec.Done || rec.Status != 200 {
			t.Errorf("task %s: %+v", id, rec)
		}
		if j := e.do(t, "GET", "/captures/"+id, nil); !strings.Contains(string(j.body), `"status":"done"`) {
			t.Errorf("GET /captures/%s: %s", id, j.body)
		}
	}
	// The internal route takes nothing but the invoker's token: not a
	// client's, not another account's.
	body := `{"id":"` + acc.IDs[0] + `","client":"dev","request":{"url":"` + e.page + `"}}`
	wrong, _ := fake.Token("http://pixashot.test", "someone@test-project.iam.gserviceaccount.com", nil)
	e.internalRefuses(t, "/internal/tasks/capture", body, wrong)
	// Without TASKS_QUEUE the route does not exist.
	if r := shared.do(t, "POST", "/internal/tasks/capture", body); r.status != 404 {
		t.Errorf("the internal route on the embedded queue: %d", r.status)
	}
}
