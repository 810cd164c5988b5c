package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/logging/logtest"
	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

var binary string // built once by TestMain

func TestMain(m *testing.M) {
	if config.FindChrome(os.Getenv) == "" {
		fmt.Fprintln(os.Stderr, "faults: no Chromium installed (make deps installs it)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "pixashot-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pixashot")
	build := exec.Command("go", "build", "-o", binary, "../../function/cmd/pixashot")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: building the binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// svc is one running binary.
type svc struct {
	t     *testing.T
	cmd   *exec.Cmd
	url   string
	token string
	tmp   string // its TMPDIR: Chrome's profile directory lives here
	store string // its STORAGE_DIR
	page  string // http://127.0.0.2:P, the only address it may capture
	logs  *logtest.Buffer
	exit  chan error

	mu    sync.Mutex
	hits  map[string]int
	hooks map[string]int // webhook deliveries received, by webhook-id
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// start runs the binary with env added to its defaults.
func start(t *testing.T, env ...string) *svc {
	t.Helper()
	s := &svc{t: t, token: randomHex(32), tmp: t.TempDir(), logs: &logtest.Buffer{}, exit: make(chan error, 1),
		hits: map[string]int{}, hooks: map[string]int{}}
	s.store = filepath.Join(s.tmp, "captures")
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	pageSrv := &http.Server{Handler: s.pages()}
	go pageSrv.Serve(ln)
	t.Cleanup(func() { pageSrv.Close() })
	pagePort := ln.Addr().(*net.TCPAddr).Port
	s.page = "http://127.0.0.2:" + strconv.Itoa(pagePort)
	port := freePort(t)
	s.url = "http://127.0.0.1:" + strconv.Itoa(port)
	s.cmd = exec.Command(binary)
	s.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + s.tmp, "TMPDIR=" + s.tmp,
		"PORT=" + strconv.Itoa(port), "AUTH_TOKEN=" + s.token, "RATE_LIMIT=0",
		"EGRESS_ALLOW_CIDRS=127.0.0.2/32", "EGRESS_ALLOW_PORTS=" + strconv.Itoa(pagePort),
		"STORAGE_DIR=" + s.store, "CAPTURE_TIMEOUT=30s", "CHROME_PATH=" + config.FindChrome(os.Getenv),
		// One client runs every capture of these tests.
		"MAX_CONCURRENCY=4", "CLIENT_MAX_CONCURRENCY=4",
		// Chrome keeps its sandbox, but for the tests that must run as root.
		"CHROME_NO_SANDBOX=" + strconv.FormatBool(os.Geteuid() == 0),
	}, env...)
	s.launch()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
		}
		if chrome := s.chrome(); chrome > 0 {
			syscall.Kill(-chrome, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("service log:\n%s", s.logs.String())
		}
	})
	// The service's browser may take its whole start timeout (30 s) on a
	// busy machine, and the rest of the start with it.
	deadline := time.Now().Add(60 * time.Second)
	for tries := 1; ; {
		resp, err := http.Get(s.url + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.exit:
			// The free port was taken by another process before the service
			// bound it: another port.
			if tries < 3 && strings.Contains(s.logs.String(), "address already in use") {
				tries++
				port := freePort(t)
				s.url = "http://127.0.0.1:" + strconv.Itoa(port)
				env := slices.DeleteFunc(slices.Clone(s.cmd.Env), func(kv string) bool { return strings.HasPrefix(kv, "PORT=") })
				s.cmd = exec.Command(binary)
				s.cmd.Env = append(env, "PORT="+strconv.Itoa(port))
				s.logs = &logtest.Buffer{}
				s.launch()
				continue
			}
			t.Fatalf("the service exited at start: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not become ready:\n%s", s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// launch starts s.cmd, its output in s.logs, its end sent on s.exit.
func (s *svc) launch() {
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { s.exit <- s.cmd.Wait() }()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pages are the targets: a plain page, one that answers after ?ms=, and one
// whose selector never appears.
func (s *svc) pages() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hooks[r.Header.Get("webhook-id")]++
		s.mu.Unlock()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><body style="margin:0;background:#0c0"><p>fault test</p></body>`)
	})
	return mux
}

func (s *svc) hitCount(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
	took   time.Duration
}

func (r result) errorType() string {
	var m struct {
		Type string `json:"error_type"`
	}
	_ = json.Unmarshal(r.body, &m)
	return m.Type
}

// capture posts options; safe from any goroutine.
func (s *svc) capture(opts map[string]any) result {
	b, _ := json.Marshal(opts)
	return s.do("POST", "/capture", b)
}

func (s *svc) do(method, path string, body []byte) result {
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return result{err: err, took: time.Since(t0)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: data, err: err, took: time.Since(t0)}
}

// chrome is the pid of the service's browser: the process whose profile
// directory is under the service's TMPDIR (and the group of its helpers).
func (s *svc) chrome() int {
	for _, p := range procstat.All() {
		if p.PID == p.PGRP && strings.Contains(cmdline(p.PID), "--user-data-dir="+s.tmp) {
			return p.PID
		}
	}
	return 0
}

// renderers are the browser's renderer processes.
func (s *svc) renderers() []int {
	chrome := s.chrome()
	var out []int
	for _, p := range procstat.All() {
		if chrome > 0 && p.PGRP == chrome && p.State != 'Z' && strings.Contains(cmdline(p.PID), "--type=renderer") {
			out = append(out, p.PID)
		}
	}
	return out
}

// leftovers are processes still running with the service's TMPDIR in their
// command line: Chrome and its helpers.
func (s *svc) leftovers() []int {
	var out []int
	for _, p := range procstat.All() {
		if p.State != 'Z' && strings.Contains(cmdline(p.PID), s.tmp) {
			out = append(out, p.PID)
		}
	}
	return out
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
