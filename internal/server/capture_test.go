package server

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/audit"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// fakeEngine answers captures as told and counts what was disposed of.
type fakeEngine struct {
	mu       sync.Mutex
	data     []byte
	err      error
	calls    int
	released int
}

func (f *fakeEngine) Capture(context.Context, string, *options.Options) (*capture.Result, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	release := func() { f.mu.Lock(); f.released++; f.mu.Unlock() }
	if f.err != nil {
		return nil, release, f.err
	}
	return &capture.Result{Data: f.data}, release, nil
}

// fakeStore keeps one cached object and fails as told.
type fakeStore struct {
	mu                         sync.Mutex
	cached                     *store.Object
	cachedData                 []byte
	saveErr, cacheErr, dataErr error
	saved                      int
}

func (f *fakeStore) Save(_ context.Context, o store.Object, _ string, data []byte) (store.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saveErr != nil {
		return store.Link{}, f.saveErr
	}
	f.saved++
	o.Size = int64(len(data))
	return store.Link{Object: o, URL: "https://storage.example/" + o.ID, Expires: time.Now().Add(time.Minute)}, nil
}

func (f *fakeStore) Cached(context.Context, string, string, time.Duration) (store.Object, bool, error) {
	if f.cacheErr != nil || f.cached == nil {
		return store.Object{}, false, f.cacheErr
	}
	return *f.cached, true, nil
}

func (f *fakeStore) Data(context.Context, store.Object) ([]byte, error) {
	return f.cachedData, f.dataErr
}

func (f *fakeStore) Link(_ context.Context, o store.Object) (store.Link, error) {
	return store.Link{Object: o, URL: "https://storage.example/cached/" + o.ID, Expires: time.Now().Add(time.Minute)}, f.dataErr
}

func (f *fakeStore) Get(context.Context, string, string) (store.Link, error) {
	return store.Link{}, store.ErrNotFound
}
func (f *fakeStore) Delete(context.Context, string, string) error { return store.ErrNotFound }
func (f *fakeStore) Load(context.Context, string, string) ([]byte, error) {
	return nil, store.ErrNotFound
}

// fakeGate admits or refuses as told, and counts slots given back.
type fakeGate struct {
	mu   sync.Mutex
	err  error
	left int
}

func (g *fakeGate) Enter(context.Context, string) (*admission.Pass, error) {
	if g.err != nil {
		return nil, g.err
	}
	return admission.NewPass(func() {}, func() { g.mu.Lock(); g.left++; g.mu.Unlock() }), nil
}
func (g *fakeGate) InUse() int   { return 0 }
func (g *fakeGate) Waiting() int { return 0 }

type refuseAll struct{}

func (refuseAll) Enabled() bool      { return true }
func (refuseAll) Charge(string, int) {}
func (refuseAll) Allow(string) ratelimit.Decision {
	return ratelimit.Decision{Limit: 1, Reset: time.Now().Add(time.Second), RetryAfter: time.Second}
}

type routeEnv struct {
	ts     *httptest.Server
	token  string
	engine *fakeEngine
	store  *fakeStore
	gate   *fakeGate
}

func newRouteEnv(t *testing.T, mod func(*Server)) *routeEnv {
	t.Helper()
	e := &routeEnv{token: "tok-" + t.Name(), engine: &fakeEngine{data: []byte("\x89PNG fake")}, store: &fakeStore{}, gate: &fakeGate{}}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s := &Server{Auth: auth.NewStatic([]string{e.token}), Audit: audit.Stdout{Log: log}, Engine: e.engine, Store: e.store,
		Gate: e.gate, Ready: func(context.Context) bool { return true }, Limits: options.Limits{MaxTimeout: time.Minute},
		Timeout: time.Minute, MaxBodyBytes: 1 << 20, Logger: log}
	if mod != nil {
		mod(s)
	}
	e.ts = httptest.NewServer(s.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

func (e *routeEnv) post(t *testing.T, body string) reply {
	t.Helper()
	return send(t, "POST", e.ts.URL+"/capture", e.token, body)
}

// Every branch of the capture route, with the engine, the store and the
// gate replaced: what each outcome answers, and that the tab and the slot
// are always given back.
func TestCaptureRouteBranches(t *testing.T) {
	const page = `"url":"https://example.com"`
	cases := []struct {
		name   string
		setup  func(*routeEnv)
		body   string
		token  string
		status int
		check  func(*testing.T, *routeEnv, reply)
	}{
		{name: "no token", token: "-", body: "{" + page + "}", status: 401},
		{name: "wrong token", token: "wrong", body: "{" + page + "}", status: 403},
		{name: "invalid option", body: `{"url":"ftp://x"}`, status: 400, check: field("url")},
		{name: "by_format", body: "{" + page + "}", status: 200, check: func(t *testing.T, e *routeEnv, a reply) {
			if a.header.Get("Content-Type") != "image/png" || a.header.Get("X-Capture-Id") == "" {
				t.Errorf("headers %v", a.header)
			}
		}},
		{name: "json", body: "{" + page + `,"response_type":"json"}`, status: 200, check: func(t *testing.T, e *routeEnv, a reply) {
			if b, _ := base64.StdEncoding.DecodeString(a.body["file"].(string)); string(b) != "\x89PNG fake" || a.body["format"] != "png" {
				t.Errorf("json body %v", a.body)
			}
		}},
		{name: "empty", body: "{" + page + `,"response_type":"empty"}`, status: 204},
		{name: "url", body: "{" + page + `,"response_type":"url"}`, status: 201, check: func(t *testing.T, e *routeEnv, a reply) {
			if !strings.HasPrefix(a.body["url"].(string), "https://storage.example/") || e.store.saved != 1 {
				t.Errorf("link %v, saved %d", a.body, e.store.saved)
			}
		}},
		{name: "url, storage down", setup: func(e *routeEnv) { e.store.saveErr = errors.New("disk full") },
			body: "{" + page + `,"response_type":"url"}`, status: 503, check: errType("Overloaded", true)},
		{name: "cache miss stores", body: "{" + page + `,"cache_ttl":60}`, status: 200, check: func(t *testing.T, e *routeEnv, a reply) {
			if a.header.Get("X-Cache") != "miss" || e.store.saved != 1 || e.engine.calls != 1 {
				t.Errorf("X-Cache %q, saved %d, captures %d", a.header.Get("X-Cache"), e.store.saved, e.engine.calls)
			}
		}},
		{name: "cache miss, storage down: the bytes still come", setup: func(e *routeEnv) { e.store.saveErr = errors.New("down") },
			body: "{" + page + `,"cache_ttl":60}`, status: 200},
		{name: "cache hit", setup: func(e *routeEnv) {
			e.store.cached, e.store.cachedData = &store.Object{ID: "cachedid", Format: "png"}, []byte("cached bytes")
		}, body: "{" + page + `,"cache_ttl":60}`, status: 200, check: func(t *testing.T, e *routeEnv, a reply) {
			if a.header.Get("X-Cache") != "hit" || a.header.Get("X-Capture-Id") != "cachedid" || e.engine.calls != 0 {
				t.Errorf("X-Cache %q id %q captures %d", a.header.Get("X-Cache"), a.header.Get("X-Capture-Id"), e.engine.calls)
			}
		}},
		{name: "cache hit as a link", setup: func(e *routeEnv) { e.store.cached = &store.Object{ID: "cachedid", Format: "png"} },
			body: "{" + page + `,"cache_ttl":60,"response_type":"url"}`, status: 201, check: func(t *testing.T, e *routeEnv, a reply) {
				if !strings.Contains(a.body["url"].(string), "/cached/cachedid") {
					t.Errorf("link %v", a.body)
				}
			}},
		{name: "cache lookup fails: a miss", setup: func(e *routeEnv) { e.store.cacheErr = errors.New("down") },
			body: "{" + page + `,"cache_ttl":60}`, status: 200, check: func(t *testing.T, e *routeEnv, a reply) {
				if a.header.Get("X-Cache") != "miss" || e.engine.calls != 1 {
					t.Errorf("X-Cache %q captures %d", a.header.Get("X-Cache"), e.engine.calls)
				}
			}},
		{name: "cache read fails: a miss", setup: func(e *routeEnv) {
			e.store.cached, e.store.dataErr = &store.Object{ID: "x"}, errors.New("gone")
		}, body: "{" + page + `,"cache_ttl":60}`, status: 200},
		{name: "slots full", setup: func(e *routeEnv) { e.gate.err = admission.ErrOverloaded }, body: "{" + page + "}",
			status: 503, check: errType("Overloaded", true)},
		{name: "client over its share", setup: func(e *routeEnv) { e.gate.err = admission.ErrClientBusy }, body: "{" + page + "}",
			status: 429, check: errType("RateLimitError", true)},
		{name: "navigation", setup: capErr(capture.Navigation), body: "{" + page + "}", status: 502, check: errType("NavigationError", false)},
		{name: "timeout", setup: capErr(capture.Timeout), body: "{" + page + "}", status: 504, check: errType("CaptureTimeout", false)},
		{name: "too large", setup: capErr(capture.TooLarge), body: "{" + page + "}", status: 413, check: errType("PayloadTooLarge", false)},
		{name: "browser restarting", setup: capErr(capture.Unavailable), body: "{" + page + "}", status: 503, check: errType("Overloaded", true)},
		{name: "internal", setup: capErr(capture.Internal), body: "{" + page + "}", status: 500, check: errType("InternalError", false)},
		{name: "the page rejects an option", setup: func(e *routeEnv) {
			e.engine.err = &options.FieldError{Field: "selector", Reason: "is not a valid CSS selector"}
		}, body: "{" + page + `,"selector":"a["}`, status: 400, check: field("selector")},
		{name: "an unknown error says nothing", setup: func(e *routeEnv) { e.engine.err = errors.New("secret detail /tmp/x") },
			body: "{" + page + "}", status: 500, check: func(t *testing.T, e *routeEnv, a reply) {
				if strings.Contains(a.body["message"].(string), "secret") {
					t.Errorf("an internal detail reached the client: %v", a.body)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRouteEnv(t, nil)
			if c.setup != nil {
				c.setup(e)
			}
			tok := e.token
			switch c.token {
			case "-":
				tok = ""
			case "":
			default:
				tok = c.token
			}
			a := send(t, "POST", e.ts.URL+"/capture", tok, c.body)
			if a.status != c.status {
				t.Fatalf("%d %v, want %d", a.status, a.body, c.status)
			}
			if c.check != nil {
				c.check(t, e, a)
			}
			// Whatever happened, a tab that was taken and a slot that was
			// entered are given back (after the response).
			deadline := time.Now().Add(2 * time.Second)
			for {
				e.engine.mu.Lock()
				calls, released := e.engine.calls, e.engine.released
				e.engine.mu.Unlock()
				e.gate.mu.Lock()
				left := e.gate.left
				e.gate.mu.Unlock()
				if released == calls && left == calls {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d captures, %d tabs released, %d slots given back", calls, released, left)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestCaptureRouteRateLimit(t *testing.T) {
	e := newRouteEnv(t, func(s *Server) { s.Limiter = refuseAll{} })
	a := e.post(t, `{"url":"https://example.com"}`)
	if a.status != 429 || a.header.Get("Retry-After") == "" || a.header.Get("X-RateLimit-Limit") != "1" || e.engine.calls != 0 {
		t.Fatalf("%d %v %v", a.status, a.header, a.body)
	}
}

func capErr(k capture.Kind) func(*routeEnv) {
	return func(e *routeEnv) { e.engine.err = &capture.Error{Kind: k, Message: "told"} }
}

func errType(typ string, retry bool) func(*testing.T, *routeEnv, reply) {
	return func(t *testing.T, _ *routeEnv, a reply) {
		t.Helper()
		if a.body["error_type"] != typ || (a.header.Get("Retry-After") != "") != retry {
			t.Errorf("error_type %v, Retry-After %q; want %s, retry %v", a.body["error_type"], a.header.Get("Retry-After"), typ, retry)
		}
	}
}

func field(name string) func(*testing.T, *routeEnv, reply) {
	return func(t *testing.T, _ *routeEnv, a reply) {
		t.Helper()
		if a.body["error_type"] != "ValidationError" || a.body["field"] != name {
			t.Errorf("%v, want a ValidationError of %s", a.body, name)
		}
	}
}

type allowAll struct{}

func (allowAll) Enabled() bool      { return true }
func (allowAll) Charge(string, int) {}
func (allowAll) Allow(string) ratelimit.Decision {
	return ratelimit.Decision{Allowed: true, Limit: 5, Remaining: 4, Reset: time.Now().Add(time.Second)}
}

// The original's docs read the rate-limit headers with `curl -I -X POST`
// and no body: the 400 carries them. The original's options that have no
// effect here are named in a header, never silently dropped.
func TestCompatHeaders(t *testing.T) {
	e := newRouteEnv(t, func(s *Server) { s.Limiter = allowAll{} })
	a := e.post(t, "")
	if a.status != 400 || a.header.Get("X-RateLimit-Limit") != "5" || a.header.Get("X-RateLimit-Remaining") != "4" {
		t.Fatalf("no body: %d %v", a.status, a.header)
	}
	a = e.post(t, `{"url":"https://example.com","use_cookie_blocker":true,"use_popup_blocker":false,"background_color":"#fff"}`)
	if a.status != 200 || a.header.Get("X-Pixashot-Ignored-Options") != "use_popup_blocker" {
		t.Fatalf("%d ignored %q", a.status, a.header.Get("X-Pixashot-Ignored-Options"))
	}
	if a := e.post(t, `{"url":"https://example.com","use_cookie_blockr":true}`); a.status != 400 || a.body["field"] != "use_cookie_blockr" {
		t.Fatalf("a typo: %d %v", a.status, a.body)
	}
}

type panicEngine struct{ fakeEngine }

func (p *panicEngine) Capture(context.Context, string, *options.Options) (*capture.Result, func(), error) {
	panic("engine bug")
}

// A panic in the capture path is a 500 in the error format, and gives back
// the slot it held.
func TestCapturePanicGivesBackTheSlot(t *testing.T) {
	e := newRouteEnv(t, nil)
	pe := &panicEngine{}
	e2 := newRouteEnv(t, func(s *Server) { s.Engine = pe; s.Gate = e.gate })
	a := e2.post(t, `{"url":"https://example.com"}`)
	if a.status != 500 || a.body["error_type"] != "InternalError" {
		t.Fatalf("%d %v", a.status, a.body)
	}
	e.gate.mu.Lock()
	defer e.gate.mu.Unlock()
	if e.gate.left != 1 {
		t.Fatalf("the slot was not given back: %d", e.gate.left)
	}
}
