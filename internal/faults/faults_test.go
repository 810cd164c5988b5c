package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit/redistest"
)

// Cloud Run sends SIGTERM on every deploy and scale-in: the captures in
// flight finish, the process exits within the grace, and neither Chrome nor
// its profile directory outlives it.
func TestSIGTERMDrainsCapturesInFlight(t *testing.T) {
	s := start(t, "SHUTDOWN_GRACE=8s")
	var wg sync.WaitGroup
	results := make([]result, 3)
	for i := range results {
		wg.Go(func() {
			results[i] = s.capture(map[string]any{"url": s.page + "/slow?ms=2500", "window_width": 64, "window_height": 48})
		})
	}
	if !waitFor(10*time.Second, func() bool { return s.hitCount("/slow") == 3 }) {
		t.Fatalf("the three captures did not reach the page: %d", s.hitCount("/slow"))
	}
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness fails and no new connection is taken while they finish.
	time.Sleep(200 * time.Millisecond)
	if r := s.do("GET", "/health/ready", nil); r.err == nil && r.status == 200 {
		t.Error("still ready after SIGTERM")
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.status != 200 {
			t.Errorf("capture %d in flight at SIGTERM: %d %v %.200s", i, r.status, r.err, r.body)
			continue
		}
		if _, err := png.Decode(bytes.NewReader(r.body)); err != nil {
			t.Errorf("capture %d: not a PNG: %v", i, err)
		}
	}
	select {
	case err := <-s.exit:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
		d := time.Since(sent)
		t.Logf("SIGTERM with 3 captures in flight: 3 answered 200, exit %s after the signal", d.Round(time.Millisecond))
		if d > 8*time.Second+time.Second {
			t.Errorf("exited %s after SIGTERM, past the 8 s grace", d)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("the process did not exit after SIGTERM")
	}
	if left := s.leftovers(); len(left) > 0 {
		t.Errorf("processes left after exit: %v", left)
	}
	entries, _ := os.ReadDir(s.tmp)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "chromedp-runner") {
			t.Errorf("Chrome's profile directory is left in TMPDIR: %s", e.Name())
		}
	}
	if !strings.Contains(s.logs.String(), `"event":"shutdown_done"`) {
		t.Error("no shutdown_done in the log")
	}
}

// A capture whose renderer dies fails at once as the target's fault, and the
// next capture works.
func TestRendererKilledMidCapture(t *testing.T) {
	s := start(t)
	for _, extra := range []map[string]any{
		{"wait_for_selector": "#never", "wait_for_timeout": 20000},
		{"delay_capture": 20000},
	} {
		opts := map[string]any{"url": s.page + "/", "window_width": 64, "window_height": 48}
		for k, v := range extra {
			opts[k] = v
		}
		done := make(chan result, 1)
		go func() { done <- s.capture(opts) }()
		if !waitFor(10*time.Second, func() bool { return s.hitCount("/") > 0 }) {
			t.Fatal("the capture did not reach the page")
		}
		time.Sleep(time.Second)
		killed := time.Now()
		for _, pid := range s.renderers() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		r := <-done
		if r.status != 502 || r.errorType() != "NavigationError" {
			t.Errorf("%v: %d %s, want 502 NavigationError", extra, r.status, r.body)
		}
		d := time.Since(killed)
		t.Logf("renderer killed during %v: %d after %s", extra, r.status, d.Round(time.Millisecond))
		if d > 3*time.Second {
			t.Errorf("%v: answered %s after the kill", extra, d)
		}
		if r := s.capture(map[string]any{"url": s.page + "/next", "window_width": 64, "window_height": 48}); r.status != 200 {
			t.Errorf("the capture after the crash: %d %s", r.status, r.body)
		}
		s.mu.Lock()
		s.hits = map[string]int{}
		s.mu.Unlock()
	}
	if n := strings.Count(s.logs.String(), `"event":"renderer_crashed"`); n != 2 {
		t.Errorf("%d renderer_crashed events logged, want 2", n)
	}
}

// A browser that dies mid-capture is a 503 with Retry-After while it
// restarts, never a 500, and the service captures again afterwards.
func TestBrowserKilledMidCapture(t *testing.T) {
	s := start(t)
	var wg sync.WaitGroup
	results := make([]result, 4)
	for i := range results {
		wg.Go(func() {
			results[i] = s.capture(map[string]any{"url": s.page + "/", "delay_capture": 15000, "window_width": 64, "window_height": 48})
		})
	}
	if !waitFor(10*time.Second, func() bool { return s.hitCount("/") >= 4 }) {
		t.Fatalf("the captures did not reach the page: %d", s.hitCount("/"))
	}
	time.Sleep(300 * time.Millisecond)
	chrome := s.chrome()
	killed := time.Now()
	if err := syscall.Kill(-chrome, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, r := range results {
		if r.status != 503 || r.errorType() != "Overloaded" || r.header.Get("Retry-After") == "" {
			t.Errorf("capture %d: %d Retry-After %q %s", i, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	d := time.Since(killed)
	t.Logf("browser killed with 4 captures in flight: all answered after %s", d.Round(time.Millisecond))
	if d > 3*time.Second {
		t.Errorf("answered %s after the kill", d)
	}
	if !waitFor(20*time.Second, func() bool {
		return s.capture(map[string]any{"url": s.page + "/after", "window_width": 64, "window_height": 48}).status == 200
	}) {
		t.Fatal("no capture after the browser restart")
	}
	if s.chrome() == chrome {
		t.Error("still the killed browser")
	}
}

// With Redis hung or gone, one request pays the timeout; the next ones are
// limited locally at once, and every log line stays JSON.
func TestRedisOutageCostsNothing(t *testing.T) {
	rs := redistest.StartServer(t)
	s := start(t, "REDIS_URL="+rs.URL, "RATE_LIMIT=1000 per second")
	// A rate-limited route that needs no browser: an id nobody has.
	probe := func() time.Duration {
		r := s.do("GET", "/captures/000000000000000000000000", nil)
		if r.status != 404 {
			t.Fatalf("probe: %d %v %s", r.status, r.err, r.body)
		}
		return r.took
	}
	median := func() time.Duration {
		var ds []time.Duration
		for range 15 {
			ds = append(ds, probe())
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	normal := median()
	for _, fault := range []struct {
		name  string
		apply func()
	}{{"frozen", rs.Freeze}, {"killed", func() { rs.Thaw(); rs.Stop() }}} {
		fault.apply()
		first := probe() // the one that finds out
		got := median()
		t.Logf("Redis %s: first request %s, then median %s (normal %s)", fault.name, first.Round(time.Millisecond), got.Round(time.Millisecond), normal.Round(time.Millisecond))
		if got > normal+50*time.Millisecond {
			t.Errorf("Redis %s: median %s against %s normally", fault.name, got, normal)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log line is not JSON: %q", line)
		}
	}
	if !strings.Contains(s.logs.String(), `"event":"ratelimit_degraded"`) {
		t.Error("the outage was not logged")
	}
}

// A store that is full, or turns read-only, answers 503 for a capture that
// asked for a link, and leaves no file behind.
func TestLocalStoreFullOrReadOnly(t *testing.T) {
	s := start(t, "STORAGE_DIR="+mountTmpfs(t, "96k"))
	s.store = storeDir(s)
	noise := `<canvas id=c width=400 height=400></canvas><script>
		const x = document.getElementById("c").getContext("2d"), d = x.createImageData(400, 400);
		for (let i = 0; i < d.data.length; i++) d.data[i] = Math.random() * 256;
		x.putImageData(d, 0, 0);</script>`
	capture := func(what string) {
		r := s.capture(map[string]any{"html_content": noise, "window_width": 400, "window_height": 400, "response_type": "url"})
		if r.status != 503 {
			t.Errorf("%s: %d %s, want 503", what, r.status, r.body)
		}
		if files := dataFiles(t, s.store); len(files) > 0 {
			t.Errorf("%s: files left in the store: %v", what, files)
		}
	}
	capture("full")
	if err := syscall.Mount("", s.store, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	capture("read-only")
}

// mountTmpfs mounts a tmpfs of the given size for the test (root only).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mounting a tmpfs: %v (CI runs as root)", err)
		}
		t.Skipf("mounting a tmpfs needs root: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// storeDir is the STORAGE_DIR the service was started with.
func storeDir(s *svc) string {
	dir := ""
	for _, kv := range s.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "STORAGE_DIR="); ok {
			dir = v // the last one wins, as in the process
		}
	}
	return dir
}

// dataFiles are the regular files of a store other than its URL key.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != ".url-key" {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A client that trickles its headers is cut off after the header timeout
// (10 s) instead of holding the connection (it was served after 42 s).
func TestSlowHeadersAreCutOff(t *testing.T) {
	s := start(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := false
	for i := 0; i < 20 && !closed; i++ {
		time.Sleep(time.Second)
		_, err := io.WriteString(conn, "X-Slow-"+strconv.Itoa(i)+": 1\r\n")
		closed = err != nil
		if !closed {
			// The server may close without a write failing at once: look.
			conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			var b [1]byte
			_, rerr := conn.Read(b[:])
			closed = rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded)
		}
	}
	if d := time.Since(start); !closed || d > 13*time.Second {
		t.Fatalf("a trickling client was still connected after %s", d)
	}
}
