package e2e

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/app"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

func TestHTTPErrorsAndHeaders(t *testing.T) {
	e := shared
	// No token: 401; wrong token: 403; both in the contract's format.
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer wrong", 403}, {"Basic " + e.token, 403}} {
		req, _ := http.NewRequest("POST", e.svc.URL+"/capture", strings.NewReader(`{"url":"http://127.0.0.2/"}`))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("auth %q: %d, want %d", c.auth, resp.StatusCode, c.code)
		}
	}
	if strings.Contains(e.logs.String(), e.token) {
		t.Error("the token appears in the log")
	}
	if !strings.Contains(e.logs.String(), `"event":"auth_failure"`) {
		t.Error("auth failures are not logged as events")
	}

	r := e.do(t, "POST", "/capture", `{"url":"`+e.page+`/","html_content":"`+strings.Repeat("x", 11<<20)+`"}`)
	if r.status != 413 || r.errorJSON(t)["error_type"] != "PayloadTooLarge" {
		t.Errorf("oversize body: %d %.200s", r.status, r.body)
	}
	r = e.do(t, "POST", "/capture", `{"url":"`+e.page+`/","window_width":-5}`)
	m := r.errorJSON(t)
	if r.status != 400 || m["error_type"] != "ValidationError" || m["field"] != "window_width" || m["status"] != "error" {
		t.Errorf("validation: %d %s", r.status, r.body)
	}
	if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
		t.Errorf("timestamp %v", m["timestamp"])
	}
	r = e.do(t, "GET", "/nope", nil)
	if r.status != 404 || r.errorJSON(t)["error_type"] != "NotFound" {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
	for name, want := range map[string]string{
		"Strict-Transport-Security": "max-age=", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Content-Security-Policy": "default-src 'none'", "Referrer-Policy": "no-referrer",
	} {
		if !strings.Contains(r.header.Get(name), want) {
			t.Errorf("%s: %q", name, r.header.Get(name))
		}
	}
	// The query form takes the same options (signed URLs build on it).
	r = e.do(t, "GET", "/capture?url="+e.page+"/color%3Fc%3D00ff00&window_width=40&window_height=30", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("GET /capture: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/health", "/health/live", "/health/ready"} {
		req, _ := http.NewRequest("GET", e.svc.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %v %v", path, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

func TestCaptureTimeoutClosesTheTab(t *testing.T) {
	e := shared
	start := time.Now()
	r := e.capture(t, opts{"url": e.page + "/hang", "wait_for_timeout": 1500})
	if r.status != 504 || r.errorJSON(t)["error_type"] != "CaptureTimeout" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.capture(t, opts{"url": e.page + "/slow-subresource", "wait_for_timeout": 1500})
	if r.status != 504 {
		t.Fatalf("a page whose load never ends: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("two 1.5 s timeouts took %s", d)
	}
	// The service still captures afterwards.
	if r := e.capture(t, opts{"url": e.page + "/color?c=00ff00"}); r.status != 200 {
		t.Fatalf("after the timeouts: %d", r.status)
	}
}

// own starts a service of the test's own, for tests that break its browser.
func own(t *testing.T, mod func(*config.Config), opt ...func(*app.Options)) *env {
	t.Helper()
	e, err := newEnv(mod, opt...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

func TestHardDeadlineCutsACapture(t *testing.T) {
	e := own(t, func(c *config.Config) { c.CaptureTimeout = 2 * time.Second })
	start := time.Now()
	r := e.capture(t, opts{"url": e.page + "/color?c=ff0000", "delay_capture": 2000})
	if r.status != 504 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the 2 s deadline answered after %s", d)
	}
}

func TestChromeKilledMidRunRecovers(t *testing.T) {
	e := own(t, nil)
	pid := e.app.Browsers.PID()
	done := make(chan result, 1)
	go func() { done <- e.capture(t, opts{"url": e.page + "/hang", "wait_for_timeout": 15000}) }()
	time.Sleep(700 * time.Millisecond)
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.status < 500 {
			t.Errorf("the capture in flight got %d", r.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the capture in flight hangs after Chrome died")
	}
	// The next request gets a new browser.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.capture(t, opts{"url": e.page + "/color?c=00ff00", "window_width": 20, "window_height": 20})
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if e.app.Browsers.PID() == pid {
		t.Error("still the dead browser's pid")
	}
	if !strings.Contains(e.logs.String(), `"event":"browser_died"`) {
		t.Error("the crash was not logged")
	}
	// No zombie of the killed Chrome stays behind.
	time.Sleep(6 * time.Second) // one reaper round
	if z := zombies(); len(z) > 0 {
		t.Errorf("zombie children remain: %v", z)
	}
}

func zombies() []int {
	var out []int
	for _, p := range procstat.All() {
		if p.State == 'Z' && p.PPID == os.Getpid() {
			out = append(out, p.PID)
		}
	}
	return out
}

func TestRecycleAfterNCaptures(t *testing.T) {
	e := own(t, func(c *config.Config) { c.RecycleAfter = 3 })
	first := e.app.Browsers.PID()
	for i := range 6 {
		if r := e.capture(t, opts{"url": e.page + "/color?c=0000ff", "window_width": 20, "window_height": 20}); r.status != 200 {
			t.Fatalf("capture %d: %d %s", i, r.status, r.body)
		}
		time.Sleep(300 * time.Millisecond) // let the replacement start
	}
	if e.app.Browsers.PID() == first {
		t.Fatal("the browser was not replaced after 3 captures")
	}
	time.Sleep(time.Second)
	if err := syscall.Kill(first, 0); err == nil {
		if p, _ := procstat.Read(first); p.State != 'Z' {
			t.Error("the retired browser is still running")
		}
	}
}

func TestOverloadAnswers503(t *testing.T) {
	e := own(t, func(c *config.Config) {
		c.MaxConcurrency = 1
		c.QueueSize = 1
		c.QueueWait = 300 * time.Millisecond
		c.ClientMaxConc = 4 // over the slots: only the instance's limit binds
	})
	var wg sync.WaitGroup
	results := make(chan result, 4)
	for range 4 {
		wg.Go(func() { results <- e.capture(t, opts{"url": e.page + "/color?c=ff0000", "delay_capture": 1500}) })
	}
	wg.Wait()
	close(results)
	var ok, over int
	for r := range results {
		switch r.status {
		case 200:
			ok++
		case 503:
			over++
			if r.header.Get("Retry-After") == "" || r.errorJSON(t)["error_type"] != "Overloaded" {
				t.Errorf("503 without Retry-After or type: %v %s", r.header, r.body)
			}
		default:
			t.Errorf("unexpected %d %s", r.status, r.body)
		}
	}
	if ok < 1 || over < 2 {
		t.Errorf("%d ok and %d overloaded, want at least 1 and 2", ok, over)
	}
}
