package browser

import (
	"context"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// A browser that stops answering is replaced like one that died. Chrome's
// browser process can stay busy for minutes after a page it was printing
// was closed (a PDF of 20000 pages): every later tab then times out while
// the process still runs, so nothing else would notice.
const (
	probeEvery   = 5 * time.Second // a look while all is well
	probeTimeout = 4 * time.Second // a cheap browser-level call's bound
	// In a row, before the browser is replaced: a long print can keep the
	// browser from answering for some seconds, and ending it ends every
	// capture in flight; 12 s unanswered is past any print we serve.
	probeFailures = 3
	// UnusableFor is how long the browser may stay unusable before
	// liveness fails and the platform restarts the instance.
	UnusableFor = 60 * time.Second
)

// Check asks for a look at the browser now (a capture timed out or a tab
// did not open); it never waits.
func (m *Manager) Check() {
	select {
	case m.check <- struct{}{}:
	default:
	}
}

// Alive is false when no browser has answered for UnusableFor: restarts
// did not help, and only a new instance will (liveness reads it).
func (m *Manager) Alive() bool {
	return time.Since(time.Unix(0, m.lastOK.Load())) < UnusableFor
}

// probe asks the current browser for its version every probeEvery, and at
// once on Check; after probeFailures unanswered calls in a row it ends the
// browser, and watch starts a new one.
func (m *Manager) probe(done <-chan struct{}) {
	failed := 0
	for {
		wait := probeEvery
		if failed > 0 {
			wait = 0 // look again straight away
		}
		select {
		case <-done:
			return
		case <-m.check:
		case <-time.After(wait):
		}
		m.mu.Lock()
		inst := m.cur
		m.mu.Unlock()
		if inst == nil || inst.ctx.Err() != nil {
			failed = 0
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		ok := answers(ctx, inst)
		cancel()
		if ok {
			failed = 0
			m.lastOK.Store(time.Now().UnixNano())
			continue
		}
		if failed++; failed < probeFailures {
			continue
		}
		failed = 0
		m.cfg.Logger.Error("browser stopped answering; starting a new one", "event", "browser_unresponsive",
			"pid", inst.pid, "timeout_ms", probeTimeout.Milliseconds(), "tries", probeFailures)
		inst.mu.Lock()
		inst.stuck = true
		inst.mu.Unlock()
		inst.close()
	}
}

// answers reports whether inst's browser answers a cheap browser-level
// call within ctx (readiness, the prober).
func answers(ctx context.Context, inst *instance) bool {
	cctx, cancel := context.WithCancel(inst.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	done := make(chan error, 1)
	go func() {
		_, err := chromedp.CallBrowser(cctx, browser.GetVersion, cdp.Empty{})
		done <- err
	}()
	select { // bounded even if the call itself were not
	case err := <-done:
		return err == nil
	case <-cctx.Done():
		return false
	}
}
