package browser

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/logging/logtest"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
)

// TestFailedRecycleIsRetried: a replacement Chrome that cannot start leaves
// the old one serving, is not tried again on every capture, and is tried
// again once recycleRetry has passed.
func TestFailedRecycleIsRetried(t *testing.T) {
	logs := &logtest.Buffer{}
	m, ctx := started(t, Config{RecycleAfter: 2, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	chrome := m.cfg.ExecPath
	first := m.PID()
	defer func(d time.Duration) { recycleRetry = d }(recycleRetry)
	// Long enough that a tab opened on a busy machine still falls within it.
	recycleRetry = 10 * time.Second

	tab := func() {
		tb, err := m.NewTab(ctx, TabOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tb.Close()
	}
	m.cfg.ExecPath = "/nonexistent/chromium" // no replacement can start
	tab()
	tab() // the RecycleAfter-th capture: the replacement fails
	poll.Until(t, "the failed recycle to be logged", func() bool { return logs.Count("browser_recycle_failed") == 1 })
	tab() // within recycleRetry: no new attempt
	time.Sleep(200 * time.Millisecond)
	if n := logs.Count("browser_recycle_failed"); n != 1 {
		t.Fatalf("%d failed attempts; want 1 within the retry interval", n)
	}
	if m.PID() != first {
		t.Fatal("the old Chrome was dropped though no replacement started")
	}

	m.cfg.ExecPath = chrome
	m.mu.Lock()
	inst := m.cur
	m.mu.Unlock()
	inst.mu.Lock()
	inst.retryAt = time.Now() // the interval has passed
	inst.mu.Unlock()
	tab() // past the interval: tried again, and it works
	poll.Until(t, "the browser to be replaced", func() bool { p := m.PID(); return p != 0 && p != first })
}

// started returns a manager of cfg on the machine's Chromium, started, and
// a context for its calls; both end with the test.
func started(t *testing.T, cfg Config) (*Manager, context.Context) {
	t.Helper()
	cfg.ExecPath = config.FindChrome(os.Getenv)
	if cfg.ExecPath == "" {
		t.Fatal("no Chromium: apt-get install chromium-headless-shell, or set CHROME_PATH")
	}
	cfg.NoSandbox = os.Geteuid() == 0
	m := New(cfg)
	t.Cleanup(m.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return m, ctx
}

// Chrome's own first tab (the default context's) is closed at start without
// being attached to, and a capture's tab lives in a context of its own.
func TestStartClosesChromesFirstTab(t *testing.T) {
	m, ctx := started(t, Config{})
	inst, err := m.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pages := func() (ids []target.Info) {
		res, err := chromedp.CallBrowser(inst.ctx, target.GetTargets, target.GetTargetsParams{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range res.TargetInfos {
			if ti.Type == "page" {
				ids = append(ids, *ti)
			}
		}
		return ids
	}
	poll.Within(t, 5*time.Second, "no tab open after the start", func() bool { return len(pages()) == 0 })
	tab, err := m.NewTab(ctx, TabOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if p := pages(); len(p) != 1 || p[0].BrowserContextID != tab.BrowserContextID() || p[0].BrowserContextID == "" {
		t.Fatalf("pages with one capture tab open: %+v (its context %q)", p, tab.BrowserContextID())
	}
}

// A browser that stops answering (here: its process group stopped with
// SIGSTOP, as a browser busy for minutes looks from outside) is ended and replaced, and the next
// tab opens on the new one; liveness follows the last answer.
func TestUnresponsiveBrowserIsReplaced(t *testing.T) {
	logs := &logtest.Buffer{}
	m, ctx := started(t, Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	first := m.PID()
	if err := syscall.Kill(-first, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	m.Check()
	poll.Within(t, probeFailures*probeTimeout+30*time.Second, "a new browser", func() bool {
		return logs.Count("browser_unresponsive") == 1 && m.PID() != 0 && m.PID() != first
	})
	if logs.Count("browser_died") != 0 {
		t.Error("an ended unresponsive browser was also logged as died")
	}
	tb, err := m.NewTab(ctx, TabOptions{})
	if err != nil {
		t.Fatalf("a tab on the new browser: %v", err)
	}
	tb.Close()
	m.lastOK.Store(time.Now().Add(-UnusableFor).UnixNano())
	if m.Alive() {
		t.Error("alive with no answer for UnusableFor")
	}
	m.Check()
	poll.Until(t, "alive again after an answer", m.Alive)
}

// A Chrome that refuses its sandbox fails the start with ErrNoSandbox and
// one event naming the remedy; the service never drops the sandbox by itself
// (chromedp would add --no-sandbox for root). As root this is the real
// Chrome's refusal; otherwise a stand-in prints what Chrome prints where the
// runtime allows no user namespace (make image-test runs the real one).
func TestSandboxRefusalFailsTheStart(t *testing.T) {
	logs := &logtest.Buffer{}
	cfg := Config{ExecPath: config.FindChrome(os.Getenv), Logger: slog.New(slog.NewJSONHandler(logs, nil)), StartTimeout: 60 * time.Second}
	if os.Geteuid() != 0 {
		cfg.ExecPath = filepath.Join(t.TempDir(), "chrome")
		refusal := "[1205/170847.274178:ERROR:content/browser/zygote_host/zygote_host_impl_linux.cc:130] No usable sandbox! " +
			"If this is a Debian system, please install the chromium-sandbox package to solve this problem."
		if err := os.WriteFile(cfg.ExecPath, []byte("#!/bin/sh\necho '"+refusal+"' >&2\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := New(cfg)
	defer m.Close()
	err := m.Start(context.Background())
	if !errors.Is(err, ErrNoSandbox) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("start: %v; want ErrNoSandbox", err)
	}
	if n := logs.Count("chrome_sandbox_unavailable"); n != 1 || !strings.Contains(logs.String(), "CHROME_NO_SANDBOX=true") {
		t.Errorf("%d chrome_sandbox_unavailable events, log: %s", n, logs.String())
	}
}
