// Package browser owns the instance's headless Chrome: it starts it when the
// instance starts, notices when it dies, replaces it after a number of
// captures, and hands out fresh incognito tabs.
package browser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
)

// Config is what the manager needs to start Chrome.
type Config struct {
	ExecPath     string
	ProxyURL     string // the guard session of the default browser context
	RecycleAfter int64  // captures per Chrome process; 0 never recycles
	NoSandbox    bool
	StartTimeout time.Duration
	Logger       *slog.Logger
	Metrics      *telemetry.Metrics
	// RendererMaxBytes ends a renderer holding more resident memory; 0 is
	// no limit.
	RendererMaxBytes int64
	// InstanceMaxBytes bounds the private memory of the service and every
	// Chrome process together: the largest renderer is ended before the
	// total would pass it. 0 is no bound.
	InstanceMaxBytes int64
}

// ErrUnavailable means no browser could be had in time, or the one serving a
// tab died under it.
var ErrUnavailable = errors.New("browser unavailable")

// ErrNoSandbox means Chrome refused to start with its sandbox on: the
// runtime allows no user namespaces (and there is no setuid helper), or the
// service runs as root. It is never dropped silently; CHROME_NO_SANDBOX=true
// is the operator's own, logged choice.
var ErrNoSandbox = errors.New("Chrome's sandbox cannot start here")

// SandboxRemedy is what the log and docs/security.md tell the operator.
const SandboxRemedy = "run as a non-root user in a runtime that allows user namespaces (Cloud Run gen2, podman, Kubernetes without a profile denying unshare); " +
	"or set CHROME_NO_SANDBOX=true, which leaves a compromised renderer the service's own user, files and network: the egress guard and the container stay as the walls"

// ErrCrashed means the renderer of a tab crashed (or was killed) under it.
var ErrCrashed = errors.New("the page's renderer crashed")

// Manager hands out tabs of the current Chrome and replaces it when needed.
type Manager struct {
	cfg      Config
	reaper   *reaper
	stopWD   chan struct{} // ends the memory watchdog
	pressure atomic.Bool   // the instance is near InstanceMaxBytes
	memory   atomic.Int64  // the last count of the instance's memory
	check    chan struct{} // asks the prober for a look now
	lastOK   atomic.Int64  // unix nanoseconds of the last time a browser answered

	mu       sync.Mutex
	cur      *instance
	running  map[int]bool  // process groups of the browsers running, the retired among them
	starting chan struct{} // closed when the start under way ends
	closed   bool
}

// instance is one Chrome process.
type instance struct {
	ctx    context.Context // the browser's root chromedp context
	cancel func()
	pid    int

	mu        sync.Mutex
	uses      int64
	active    int
	retired   bool      // no new tabs; close when active reaches 0
	replacing bool      // a replacement is starting
	stuck     bool      // ended by the prober: it stopped answering
	retryAt   time.Time // after a failed replacement, when to try again
}

// New returns a manager; Start launches the first browser.
func New(cfg Config) *Manager {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Manager{cfg: cfg, reaper: startReaper(cfg.Logger), stopWD: make(chan struct{}), running: map[int]bool{},
		check: make(chan struct{}, 1)}
	m.lastOK.Store(time.Now().UnixNano())
	go m.probe(m.stopWD)
	if cfg.RendererMaxBytes > 0 || cfg.InstanceMaxBytes > 0 {
		go m.watchMemory(m.stopWD)
	}
	return m
}

// Start launches Chrome and waits until it answers.
func (m *Manager) Start(ctx context.Context) error {
	if m.cfg.NoSandbox {
		m.cfg.Logger.Warn("Chrome runs without its sandbox (CHROME_NO_SANDBOX=true)", "event", "chrome_sandbox_off")
	}
	_, err := m.current(ctx)
	if errors.Is(err, ErrNoSandbox) {
		m.cfg.Logger.Error("Chrome's sandbox cannot start under this runtime; the service does not start without it",
			"event", "chrome_sandbox_unavailable", "remedy", SandboxRemedy, "error", err)
	}
	return err
}

// current returns the live instance, starting one if there is none. Only one
// start runs at a time; other callers wait for it within their own deadline.
func (m *Manager) current(ctx context.Context) (*instance, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrUnavailable
		}
		if inst := m.cur; inst != nil && inst.ctx.Err() == nil {
			m.mu.Unlock()
			return inst, nil
		}
		wait := m.starting
		if wait == nil {
			wait = make(chan struct{})
			m.starting = wait
			m.mu.Unlock()
			inst, err := m.launch()
			m.mu.Lock()
			if err == nil {
				m.install(inst)
			}
			m.starting = nil
			m.mu.Unlock()
			close(wait)
			if err != nil {
				return nil, err
			}
			return inst, nil
		}
		m.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
}

// install makes inst current and retires the one it replaces; m.mu is held.
func (m *Manager) install(inst *instance) {
	old := m.cur
	m.cur = inst
	if inst.pid > 0 {
		m.running[inst.pid] = true
	}
	if old != nil {
		old.retire()
	}
	go m.watch(inst)
}

// liveGroups returns the process groups of the browsers running.
func (m *Manager) liveGroups() map[int]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.running)
}

// watch notices a Chrome that went away without being asked, and starts a new
// one straight away so the next request does not pay for the start.
func (m *Manager) watch(inst *instance) {
	<-inst.ctx.Done()
	inst.mu.Lock()
	retired, stuck := inst.retired, inst.stuck
	inst.mu.Unlock()
	m.mu.Lock()
	delete(m.running, inst.pid)
	died := m.cur == inst && !m.closed
	if died {
		m.cur = nil
	}
	m.mu.Unlock()
	if died && !retired {
		reason := "unresponsive"
		if !stuck {
			reason = "died"
			m.cfg.Logger.Error("browser exited unexpectedly; starting a new one", "event", "browser_died", "pid", inst.pid)
		}
		m.cfg.Metrics.BrowserRestarted(reason)
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StartTimeout)
		defer cancel()
		if _, err := m.current(ctx); err != nil {
			m.cfg.Logger.Error("browser restart failed", "event", "browser_restart_failed", "error", err)
		}
	}
}

func (m *Manager) launch() (*instance, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], Hardening(m.cfg.ProxyURL)...)
	opts = append(opts,
		chromedp.ExecPath(m.cfg.ExecPath),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own process group, so a recycle can take every helper with it.
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = &syscall.SysProcAttr{}
			}
			cmd.SysProcAttr.Setpgid = true
			// No first tab: chromedp opens about:blank in the default
			// context, which serves no capture; making its renderer and then
			// closing it cost some 130 ms of the instance's start.
			if n := len(cmd.Args) - 1; n > 0 && cmd.Args[n] == "about:blank" {
				cmd.Args[n] = "--no-startup-window"
			}
		}),
	)
	if m.cfg.NoSandbox {
		opts = append(opts, chromedp.NoSandbox)
	} else {
		// chromedp adds --no-sandbox by itself as root; here only the
		// operator turns the sandbox off.
		opts = append(opts, chromedp.Flag("no-sandbox", false))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(m.quiet), chromedp.WithErrorf(m.quiet))
	cancel := func() {
		bcancel()
		acancel()
	}
	// The first call to the browser starts it, without attaching to a tab:
	// the default context serves no capture, and downloads are refused
	// everywhere. A control that cannot be put in place fails the start.
	started := make(chan error, 1)
	t0 := time.Now()
	go func() {
		_, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior,
			browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorDeny})
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			cancel()
			if refusedSandbox(err) {
				return nil, fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrNoSandbox, err)
			}
			return nil, fmt.Errorf("%w: start: %w", ErrUnavailable, err)
		}
	case <-time.After(m.cfg.StartTimeout):
		cancel()
		return nil, fmt.Errorf("%w: start timed out after %s", ErrUnavailable, m.cfg.StartTimeout)
	}
	inst := &instance{ctx: bctx, cancel: cancel}
	if p := chromedp.FromContext(bctx).Browser.Process(); p != nil {
		inst.pid = p.Pid
		m.reaper.track(p.Pid)
	}
	// A first tab, should a build open one all the same, is in the default
	// context and serves nothing: close it, and its renderer process (some
	// 35 MB) with it, without attaching to it first (that waits for its
	// renderer).
	if res, err := chromedp.CallBrowser(bctx, target.GetTargets, target.GetTargetsParams{}); err == nil {
		for _, t := range res.TargetInfos {
			if t.Type == "page" {
				_, _ = chromedp.CallBrowser(bctx, target.CloseTarget, target.CloseTargetParams{TargetID: t.TargetID})
			}
		}
	}
	m.cfg.Logger.Info("browser started", "pid", inst.pid, "ms", time.Since(t0).Milliseconds(), "sandbox", !m.cfg.NoSandbox)
	return inst, nil
}

// refusedSandbox tells Chrome's own refusals of the sandbox, which chromedp
// returns with Chrome's output, from any other failed start.
func refusedSandbox(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "No usable sandbox") || strings.Contains(msg, "Running as root without --no-sandbox")
}

// quiet drops chromedp's chatter about events it does not know; real
// failures surface as errors of the calls.
func (m *Manager) quiet(format string, args ...any) {
	m.cfg.Logger.Debug(fmt.Sprintf(format, args...), "component", "chromedp")
}

// retire stops new tabs on inst and closes it once its tabs are done.
func (inst *instance) retire() {
	inst.mu.Lock()
	inst.retired = true
	idle := inst.active == 0
	inst.mu.Unlock()
	if idle {
		inst.close()
	}
}

func (inst *instance) close() {
	inst.cancel()
	if inst.pid > 0 {
		// Helpers of a killed Chrome can outlive it; take the whole group.
		_ = syscall.Kill(-inst.pid, syscall.SIGKILL)
	}
}

// Tab is one page in its own incognito browser context.
type Tab struct {
	ctx     context.Context
	inst    *instance
	cancel  context.CancelFunc
	release sync.Once
	closed  atomic.Bool

	crashOnce sync.Once
	crashed   chan struct{} // closed when the renderer crashes
}

// TabOptions configure the browser context of a tab.
type TabOptions struct {
	ProxyURL string // the capture's own guard session
}

// NewTab opens a page in a new incognito browser context whose traffic goes
// to opts.ProxyURL. Nothing of it (cookies, storage, cache, service workers)
// outlives Close.
func (m *Manager) NewTab(ctx context.Context, opts TabOptions) (*Tab, error) {
	return m.newTab(ctx, opts, true)
}

func (m *Manager) newTab(ctx context.Context, opts TabOptions, again bool) (*Tab, error) {
	inst, err := m.current(ctx)
	if err != nil {
		return nil, err
	}
	inst.mu.Lock()
	inst.active++
	inst.uses++
	// From the RecycleAfter-th capture on, until a replacement succeeds; a
	// failed one is tried again after recycleRetry, not on every capture.
	recycle := m.cfg.RecycleAfter > 0 && inst.uses >= m.cfg.RecycleAfter &&
		!inst.replacing && !inst.retired && !time.Now().Before(inst.retryAt)
	if recycle {
		inst.replacing = true
	}
	inst.mu.Unlock()
	if recycle {
		go m.replace(inst)
	}
	tctx, cancel := chromedp.NewContext(inst.ctx, chromedp.WithNewBrowserContext(func(p *target.CreateBrowserContextParams) {
		p.ProxyServer = opts.ProxyURL
		p.ProxyBypassList = "<-loopback>"
	}))
	t := &Tab{ctx: tctx, inst: inst, cancel: cancel, crashed: make(chan struct{})}
	// Opening the tab must respect the caller's deadline, but the tab's own
	// context must not inherit it: cancelling that closes the tab.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(tctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		t.Close()
		if again && ctx.Err() == nil && inst.ctx.Err() != nil {
			// Its browser was ended under it (it died, or stopped
			// answering): the next one serves the tab.
			return m.newTab(ctx, opts, false)
		}
		m.Check()
		return nil, fmt.Errorf("%w: open tab: %w", ErrUnavailable, err)
	}
	// A control that cannot be put in place fails the tab: a tab that could
	// download is not a tab to capture with.
	if bc := chromedp.FromContext(tctx).BrowserContextID; bc != "" {
		if _, err := chromedp.CallBrowser(tctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorDeny, BrowserContextID: bc}); err != nil {
			t.Close()
			return nil, fmt.Errorf("%w: deny downloads: %w", ErrUnavailable, err)
		}
	}
	// Chrome reports a renderer that died (crash, OOM, kill) on the page's
	// session; nothing else would end the capture's waits early.
	if err := chromedp.Listen(tctx, func(ev any) {
		if _, ok := ev.(*inspector.EventTargetCrashed); ok {
			t.crashOnce.Do(func() { close(t.crashed) })
		}
	}); err != nil {
		t.Close()
		return nil, fmt.Errorf("%w: watch tab: %w", ErrUnavailable, err)
	}
	return t, nil
}

// Steps returns the context a capture runs its actions in: it ends with ctx
// (and keeps its deadline), and as soon as the tab's renderer crashes or its
// browser dies, so no wait outlasts the page it waits on. The tab itself
// outlives it, so Close can still dispose of the tab cleanly.
func (t *Tab) Steps(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancelCause(t.ctx)
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	go func() {
		select {
		case <-t.crashed:
			cancel(ErrCrashed)
		case <-sctx.Done():
		}
	}()
	var c2 context.CancelFunc = func() {}
	if dl, ok := ctx.Deadline(); ok {
		sctx, c2 = context.WithDeadline(sctx, dl)
	}
	return sctx, func() {
		stop()
		c2()
		cancel(context.Canceled)
	}
}

// Err says why the tab can no longer serve: ErrCrashed when its renderer
// crashed, ErrUnavailable when its browser died; nil while it is usable.
func (t *Tab) Err() error {
	select {
	case <-t.crashed:
		return ErrCrashed
	default:
	}
	if t.ctx.Err() != nil && !t.closed.Load() {
		return ErrUnavailable
	}
	return nil
}

// Stale reports whether the tab can no longer serve a capture: its Chrome
// died or is being replaced.
func (t *Tab) Stale() bool {
	if t.Err() != nil {
		return true
	}
	t.inst.mu.Lock()
	defer t.inst.mu.Unlock()
	return t.inst.retired
}

// BrowserContextID is the incognito context of the tab.
func (t *Tab) BrowserContextID() cdp.BrowserContextID {
	return chromedp.FromContext(t.ctx).BrowserContextID
}

// Close closes the page and disposes of its browser context. It blocks until
// Chrome confirms, so callers that need speed run it after the response.
func (t *Tab) Close() {
	t.release.Do(func() {
		t.closed.Store(true)
		t.cancel()
		inst := t.inst
		inst.mu.Lock()
		inst.active--
		closeNow := inst.retired && inst.active == 0
		inst.mu.Unlock()
		if closeNow {
			inst.close()
		}
	})
}

// recycleRetry is how long a Chrome whose replacement failed keeps serving
// before the next attempt.
var recycleRetry = 10 * time.Second

// replace starts a new Chrome while the old one keeps serving, then swaps.
func (m *Manager) replace(old *instance) {
	inst, err := m.launch()
	if err != nil {
		m.cfg.Logger.Error("browser recycle failed; keeping the old one and trying again later",
			"event", "browser_recycle_failed", "error", err, "retry_in", recycleRetry.String())
		old.mu.Lock()
		old.replacing = false
		old.retryAt = time.Now().Add(recycleRetry)
		old.mu.Unlock()
		return
	}
	m.mu.Lock()
	if m.closed || m.cur != old {
		m.mu.Unlock()
		inst.close()
		return
	}
	m.install(inst)
	m.mu.Unlock()
	m.cfg.Metrics.BrowserRestarted("recycle")
	m.cfg.Logger.Info("browser recycled", "old_pid", old.pid, "new_pid", inst.pid)
}

// Ready reports whether the current browser answers within ctx.
func (m *Manager) Ready(ctx context.Context) bool {
	m.mu.Lock()
	inst := m.cur
	m.mu.Unlock()
	return inst != nil && inst.ctx.Err() == nil && answers(ctx, inst)
}

// PID is the process id of the current Chrome (0 if none); for tests and logs.
func (m *Manager) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return 0
	}
	return m.cur.pid
}

// Close stops the browser.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	inst := m.cur
	m.cur = nil
	m.mu.Unlock()
	if inst != nil {
		inst.close()
	}
	select {
	case <-m.stopWD:
	default:
		close(m.stopWD)
	}
	m.reaper.stop()
}
