package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/openapi"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/playground"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/scheduler"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

func TestOpenAPIAndPlaygroundRoutes(t *testing.T) {
	e := newRouteEnv(t, nil)
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, doc := get("/openapi.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" ||
		!bytes.Equal(doc, openapi.Document(options.Limits{MaxTimeout: 60e9})) {
		t.Errorf("GET /openapi.json without a token: %d %s, not this deployment's document", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for path, typ := range map[string]string{"/": "text/html", "/playground/app.js": "text/javascript", "/playground/app.css": "text/css"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), typ) || len(body) < 100 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Content-Security-Policy") != playground.CSP || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: CSP %q", path, resp.Header.Get("Content-Security-Policy"))
		}
	}
	// The page's policy is its own: every other route keeps the service's.
	for _, path := range []string{"/openapi.json", "/health", "/capture", "/playground/nope.js", "/playground/", "/x"} {
		resp, _ := get(path)
		if csp := resp.Header.Get("Content-Security-Policy"); csp != securityHeaders["Content-Security-Policy"] {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if resp, _ := get("/playground/nope.js"); resp.StatusCode != 404 {
		t.Errorf("GET /playground/nope.js: %d", resp.StatusCode)
	}
	a := send(t, "POST", e.ts.URL+"/", "", "")
	if a.status != 405 || a.header.Get("Allow") != "GET" {
		t.Errorf("POST /: %d %q", a.status, a.header.Get("Allow"))
	}
}

// Every route's answers, as the service gives them, conform to the document:
// status, headers, content type and body schema.
func TestAnswersConformToTheDocument(t *testing.T) {
	for _, ct := range []string{"image/png", "image/jpeg", "image/webp", "application/pdf", "text/markdown", "text/plain", "text/html"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document(options.Limits{MaxTimeout: 60e9}))
	if err != nil {
		t.Fatal(err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k-" + t.Name())
	disk, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	queued := &testQueue{}
	records := store.New(disk, store.Config{URLTTL: time.Minute, Retention: time.Hour})
	const held = `{"url":"https://example.com/held"}`
	e := newRouteEnv(t, func(s *Server) {
		s.Signer = signing.New(key)
		s.Async = &Async{Queue: queued, Records: records,
			BatchMax: 10, CheckAddress: func(context.Context, string, int) error { return nil }, WebhookKeys: func(string) [][]byte { return [][]byte{key} }}
		clock, err := scheduler.OpenEmbedded(t.TempDir(), s.QueueRun, s.Logger) // never started: nothing fires
		if err != nil {
			t.Fatal(err)
		}
		s.Monitors = &Monitors{Schedules: clock, Max: 10, MaxGap: 24 * time.Hour}
	})
	var signed string
	ids := map[string]string{} // {job} and {batch}: from the answers before
	cases := []struct {
		name, method, path, token, body string
		valid                           bool // a request the document allows
		setup                           func()
		status                          int
	}{
		{"png", "POST", "/capture", e.token, `{"url":"https://example.com"}`, true, nil, 200},
		{"json", "POST", "/capture", e.token, `{"url":"https://example.com","response_type":"json"}`, true, nil, 200},
		{"url", "POST", "/capture", e.token, `{"url":"https://example.com","response_type":"url"}`, true, nil, 201},
		{"empty", "POST", "/capture", e.token, `{"url":"https://example.com","response_type":"empty"}`, true, nil, 204},
		{"invalid", "POST", "/capture", e.token, `{"url":"https://example.com","window_width":0}`, false, nil, 400},
		{"no token", "POST", "/capture", "", `{"url":"https://example.com"}`, true, nil, 401},
		{"bad token", "POST", "/capture", "nope", `{"url":"https://example.com"}`, true, nil, 403},
		{"navigation", "POST", "/capture", e.token, `{"url":"https://example.com"}`, true,
			func() { e.engine.err = &capture.Error{Kind: capture.Navigation, Message: "refused"} }, 502},
		{"timeout", "POST", "/capture", e.token, `{"url":"https://example.com"}`, true,
			func() { e.engine.err = &capture.Error{Kind: capture.Timeout, Message: "slow"} }, 504},
		{"target status", "POST", "/capture", e.token, `{"url":"https://example.com","fail_on_http_status":"404"}`, true,
			func() { e.engine.err = &capture.Error{Kind: capture.TargetStatus, Status: 404, Message: "404"} }, 502},
		{"sign", "POST", "/sign", e.token, `{"params":{"url":"https://example.com","window_width":800}}`, true,
			func() { e.engine.err = nil }, 200},
		{"signed", "GET", "", "", "", true, nil, 200},
		{"stored", "GET", "/captures/abc", e.token, "", true, nil, 404},
		{"delete", "DELETE", "/captures/abc", e.token, "", true, nil, 404},
		{"health", "GET", "/health", "", "", true, nil, 200},
		{"health with token", "GET", "/health", e.token, "", true, nil, 200},
		{"live", "GET", "/health/live", "", "", true, nil, 200},
		{"ready", "GET", "/health/ready", "", "", true, nil, 200},
		{"openapi", "GET", "/openapi.json", "", "", true, nil, 200},
		{"async one", "POST", "/captures", e.token, `{"url":"https://example.com","webhook_url":"https://hooks.example/x"}`, true, nil, 202},
		{"job", "GET", "/captures/{job}", e.token, "", true, nil, 200},
		{"async batch", "POST", "/captures", e.token, `{"batch":[{"url":"https://example.com"},{"url":"https://example.org","format":"pdf"}]}`, true, nil, 202},
		{"batch", "GET", "/batches/{batch}", e.token, "", true, nil, 200},
		{"async invalid", "POST", "/captures", e.token, `{"batch":[{"url":"https://example.com","window_width":0}]}`, false, nil, 400},
		{"async unknown batch", "GET", "/batches/000000000000000000000000", e.token, "", true, nil, 404},
		{"async key in progress", "POST", "/captures", e.token, held, true, func() {
			// Another instance holds the key (Idempotency-Key: held).
			rec, _ := json.Marshal(idemRecord{BodySHA: sha([]byte(held)), Created: time.Now().UTC(), Owner: newID()})
			if err := records.CreateRecord(context.Background(), "dev", "idempotency", sha([]byte("held")), rec); err != nil {
				t.Fatal(err)
			}
		}, 409},
		{"monitor", "POST", "/monitors", e.token, `{"options":{"url":"https://example.com","deterministic":true},"schedule":"0 * * * *","webhook_url":"https://hooks.example/m","threshold":0.02}`, true, nil, 201},
		{"monitor read", "GET", "/monitors/{monitor}", e.token, "", true, nil, 200},
		{"monitors", "GET", "/monitors", e.token, "", true, nil, 200},
		{"monitor invalid", "POST", "/monitors", e.token, `{"options":{"url":"https://example.com"},"schedule":"* * * * *"}`, true, nil, 400},
		{"monitor without schedule", "POST", "/monitors", e.token, `{"options":{"url":"https://example.com"}}`, false, nil, 400},
		{"monitor delete", "DELETE", "/monitors/{monitor}", e.token, "", true, nil, 204},
		{"monitor gone", "GET", "/monitors/{monitor}", e.token, "", true, nil, 404},
		{"playground", "GET", "/", "", "", true, nil, 200},
	}
	for _, c := range cases {
		if c.setup != nil {
			c.setup()
		}
		path := c.path
		if c.name == "signed" {
			path = strings.TrimPrefix(signed, e.ts.URL)
		}
		path = strings.NewReplacer("{job}", ids["id"], "{monitor}", ids["id"], "{batch}", ids["batch_id"]).Replace(path)
		req, _ := http.NewRequest(c.method, e.ts.URL+path, strings.NewReader(c.body))
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.body == held {
			req.Header.Set("Idempotency-Key", "held")
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Errorf("%s: %s %s is not in the document: %v", c.name, c.method, path, err)
			continue
		}
		// Validated as sent: filling in defaults would change the body the
		// service gets (and an idempotency key is bound to its bytes).
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, SkipSettingDefaults: true}}
		if err := openapi3filter.ValidateRequest(context.Background(), in); (err == nil) != c.valid {
			t.Errorf("%s: the document says of the request: %v", c.name, err)
		}
		req.Body = io.NopCloser(strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
		}
		var got struct{ URL string }
		if json.Unmarshal(body, &got) == nil {
			if c.name == "sign" {
				signed = got.URL
			}
			var m map[string]any
			json.Unmarshal(body, &m) //nolint:errcheck // the same bytes
			for _, k := range []string{"id", "batch_id"} {
				if v, ok := m[k].(string); ok {
					ids[k] = v
				}
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
			Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s: the answer does not conform: %v", c.name, err)
		}
	}
	if n := queued.count(); n != 3 {
		t.Errorf("%d tasks queued, want 3 (one, then a batch of two; none for the invalid batch)", n)
	}
}

// testQueue keeps the tasks it accepts, or refuses them all with the error
// it was given; instances may share one.
type testQueue struct {
	mu     sync.Mutex
	tasks  []jobs.Task
	refuse error
}

func (q *testQueue) Enqueue(_ context.Context, ts []jobs.Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.refuse != nil {
		return q.refuse
	}
	q.tasks = append(q.tasks, ts...)
	return nil
}

func (q *testQueue) refusing(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refuse = err
}

func (q *testQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// A full queue is a 503 with Retry-After, and a request too large for it a
// 413; nothing is answered 202 that was not queued.
func TestAsyncQueueRefusals(t *testing.T) {
	dir := t.TempDir()
	q := &testQueue{}
	e := newRouteEnv(t, func(s *Server) { s.Async = asyncOnDisk(t, dir, q) })
	for _, c := range []struct {
		err    error
		status int
		typ    string
	}{{jobs.ErrFull, 503, "Overloaded"}, {jobs.ErrClientFull, 429, "RateLimitError"}, {jobs.ErrTooLarge, 413, "PayloadTooLarge"},
		{errors.New("queue down"), 503, "Overloaded"}} {
		q.refusing(c.err)
		a := send(t, "POST", e.ts.URL+"/captures", e.token, `{"batch":[{"url":"https://example.com"}]}`)
		if a.status != c.status || a.body["error_type"] != c.typ || (c.status != 413 && a.header.Get("Retry-After") == "") {
			t.Errorf("%v: %d %v %v", c.err, a.status, a.body, a.header)
		}
		// The records of what was not queued are gone.
		if left, _ := filepath.Glob(filepath.Join(dir, "dev", "*", "*")); len(left) != 0 {
			t.Errorf("%v: records left behind: %v", c.err, left)
		}
	}
	// A webhook without a key for the client is a 501 naming what is missing.
	q.refusing(nil)
	a := send(t, "POST", e.ts.URL+"/captures", e.token, `{"url":"https://example.com","webhook_url":"https://hooks.example/x"}`)
	if a.status != 501 || a.body["error_type"] != "FeatureUnavailable" || !strings.Contains(a.body["message"].(string), "keys webhook") {
		t.Errorf("webhook without a key: %d %v", a.status, a.body)
	}
}

// Cloud Tasks' last attempt ends a job the service could not run, instead
// of leaving it queued when the queue gives up.
func TestTaskRouteEndsTheLastAttempt(t *testing.T) {
	var abandoned int
	tr := &TaskRoute{Verify: func(*http.Request) error { return nil }, MaxAttempts: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Process: func(*http.Request, jobs.Task) bool { return true },
		Abandon: func(*http.Request, jobs.Task) { abandoned++ }}
	for retry, want := range map[string]int{"0": 503, "1": 503, "2": 200} {
		req := httptest.NewRequest("POST", TasksPath, strings.NewReader(`{"id":"0123456789abcdef01234567","client":"dev","request":{}}`))
		req.Header.Set("X-CloudTasks-TaskRetryCount", retry)
		w := httptest.NewRecorder()
		tr.serve(w, req)
		if w.Code != want {
			t.Errorf("retry %s: %d, want %d", retry, w.Code, want)
		}
	}
	if abandoned != 1 {
		t.Errorf("abandoned %d times, want once (the last attempt)", abandoned)
	}
}

// The review's attack: ten batches of 100 accepted in seconds on a limit of
// 5 a second. A batch costs one token an item: after one batch of 10 on a
// bucket of 5, the next submission is refused until the debt is paid.
func TestBatchItemsCountAgainstTheRateLimit(t *testing.T) {
	e := newRouteEnv(t, func(s *Server) {
		s.Limiter = ratelimit.NewLimiter(ratelimit.Rate{N: 5, Period: time.Minute})
		s.Async = asyncOnDisk(t, t.TempDir(), &testQueue{})
	})
	batch := `{"batch":[` + strings.Repeat(`{"url":"https://example.com"},`, 9) + `{"url":"https://example.com"}]}`
	if a := send(t, "POST", e.ts.URL+"/captures", e.token, batch); a.status != 202 {
		t.Fatalf("the batch: %d %v", a.status, a.body)
	}
	a := send(t, "POST", e.ts.URL+"/captures", e.token, `{"url":"https://example.com"}`)
	if a.status != 429 || a.body["error_type"] != "RateLimitError" || a.header.Get("Retry-After") == "" {
		t.Fatalf("right after a batch of 10 on a limit of 5: %d %v", a.status, a.body)
	}
}

// asyncOnDisk is the async routes with their records on disk in dir, batches
// of at most 10, any webhook address allowed and no webhook keys.
func asyncOnDisk(t *testing.T, dir string, q jobs.Queue) *Async {
	t.Helper()
	disk, err := store.OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	return &Async{Queue: q, Records: store.New(disk, store.Config{URLTTL: time.Minute, Retention: time.Hour}), BatchMax: 10,
		CheckAddress: func(context.Context, string, int) error { return nil }, WebhookKeys: func(string) [][]byte { return nil }}
}
