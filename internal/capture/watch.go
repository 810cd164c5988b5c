package capture

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// quietWindow is how long the network must stay quiet to count as idle; the
// same 500 ms Chrome and Playwright use for networkidle.
const quietWindow = 500 * time.Millisecond

// watch follows one tab's network and lifecycle events. It is fed by
// chromedp.Listen, in the order Chrome sent the events, and never blocks.
type watch struct {
	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change
	inflight   map[network.RequestID]bool
	lastChange time.Time
	starts     int64 // requests started so far
	peak       int   // most requests in flight since the last mark
	lifecycle  map[cdp.LoaderID]map[string]bool
	blocked    map[cdp.LoaderID]bool // main documents the egress guard refused
	// The document the main frame committed last: a page that navigates
	// itself (script, meta refresh) is followed to where it ends up.
	current cdp.LoaderID
	failed  bool // the last commit was an error page
	// Main-frame navigations started and committed so far, for an action
	// that may navigate (a submit, a link).
	mainFrame cdp.FrameID
	started   int
	commits   int
	// What the main document answered, for metadata.
	status   map[cdp.LoaderID]int64
	finalURL string
}

func newWatch(ctx context.Context) (*watch, error) {
	w := &watch{
		changed:    make(chan struct{}),
		inflight:   map[network.RequestID]bool{},
		lastChange: time.Now(),
		lifecycle:  map[cdp.LoaderID]map[string]bool{},
		blocked:    map[cdp.LoaderID]bool{},
		status:     map[cdp.LoaderID]int64{},
	}
	return w, chromedp.Listen(ctx, w.on)
}

func (w *watch) on(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Only requests move the quiet window: Chrome's own lifecycle events
	// (networkAlmostIdle, networkIdle) arrive 500 ms into a quiet period and
	// must not restart it.
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if !w.inflight[ev.RequestID] { // a redirect keeps its id
			w.starts++
		}
		w.inflight[ev.RequestID] = true
		w.peak = max(w.peak, len(w.inflight))
		w.lastChange = time.Now()
	case *network.EventLoadingFinished:
		delete(w.inflight, ev.RequestID)
		w.lastChange = time.Now()
	case *network.EventLoadingFailed:
		delete(w.inflight, ev.RequestID)
		w.lastChange = time.Now()
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil {
			if _, ok := ev.Response.Headers[egress.BlockedHeader]; ok {
				w.blocked[ev.LoaderID] = true
			}
			if ev.FrameID == w.mainFrame || w.mainFrame == "" {
				w.status[ev.LoaderID] = ev.Response.Status
			}
		}
		return
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" {
			w.current = ev.Frame.LoaderID
			w.failed = ev.Frame.UnreachableURL != "" || strings.HasPrefix(ev.Frame.URL, "chrome-error:")
			w.mainFrame = ev.Frame.ID
			w.commits++
			w.finalURL = ev.Frame.URL
		}
	case *page.EventFrameStartedNavigating:
		same := ev.NavigationType == page.FrameStartedNavigatingNavigationTypeSameDocument ||
			ev.NavigationType == page.FrameStartedNavigatingNavigationTypeHistorySameDocument
		if (w.mainFrame == "" || ev.FrameID == w.mainFrame) && !same {
			w.started++
		}
	case *page.EventLifecycleEvent:
		m := w.lifecycle[ev.LoaderID]
		if m == nil {
			m = map[string]bool{}
			w.lifecycle[ev.LoaderID] = m
		}
		m[ev.Name] = true
	default:
		return
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// until waits for cond (checked under the lock) or ctx. It returns how long
// cond still wants to wait; a positive value re-arms a timer, so conditions
// that depend on time (a quiet window) need no events to become true.
func (w *watch) until(ctx context.Context, cond func(now time.Time) time.Duration) error {
	for {
		w.mu.Lock()
		wait := cond(time.Now())
		ch := w.changed
		w.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// loaded waits for the load event of the document the main frame committed
// last, starting from loader.
func (w *watch) loaded(ctx context.Context, loader cdp.LoaderID) error {
	return w.until(ctx, func(time.Time) time.Duration {
		cur := w.current
		if cur == "" {
			cur = loader
		}
		if w.lifecycle[cur]["load"] {
			return 0
		}
		return time.Hour
	})
}

// source is the URL the page's requests come from: the top document's, or
// the target's before it commits.
func (w *watch) source(o *options.Options) string {
	if _, u := w.document(); u != "" {
		return u
	}
	return targetURL(o)
}

// document is the main document's HTTP status and URL, as last committed.
func (w *watch) document() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.status[w.current]), w.finalURL
}

// navCount is how many main-frame navigations had started and committed.
type navCount struct{ started, commits int }

// navigations counts the main frame's cross-document navigations so far.
func (w *watch) navigations() navCount {
	w.mu.Lock()
	defer w.mu.Unlock()
	return navCount{w.started, w.commits}
}

// committedAndLoaded waits until a main-frame document committed after
// before has fired its load event.
func (w *watch) committedAndLoaded(ctx context.Context, before navCount) error {
	return w.until(ctx, func(time.Time) time.Duration {
		if w.commits > before.commits && w.lifecycle[w.current]["load"] {
			return 0
		}
		return time.Hour
	})
}

// idle waits until at most max requests have been in flight for quietWindow.
func (w *watch) idle(ctx context.Context, max int) error {
	return w.until(ctx, func(now time.Time) time.Duration {
		if len(w.inflight) > max {
			return time.Hour
		}
		return quietWindow - now.Sub(w.lastChange)
	})
}

// quietMark is where a capture started to count on a quiet network.
// settled is false when the network never got that quiet (a page that
// polls): the capture is then taken as it is, once.
type quietMark struct {
	starts  int64
	settled bool
}

// quiet waits until at most max requests are in flight, with no window, and
// marks the moment: the capture is taken from there, and stayed reports
// afterwards whether the network stayed that quiet all along.
func (w *watch) quiet(ctx context.Context, max int) (quietMark, error) {
	err := w.until(ctx, func(time.Time) time.Duration {
		if len(w.inflight) > max {
			return time.Hour
		}
		return 0
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.peak = len(w.inflight)
	return quietMark{starts: w.starts, settled: err == nil}, err
}

// stayed reports whether, since m, no request started (max 0) or no more
// than max were ever in flight.
func (w *watch) stayed(m quietMark, max int) bool {
	if !m.settled {
		return true // nothing better to wait for
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if max == 0 {
		return w.starts == m.starts
	}
	return w.peak <= max
}

// refused reports whether the main frame shows no page of the target: the
// guard refused its document, or it committed an error page.
func (w *watch) refused(loader cdp.LoaderID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.blocked[loader] || w.blocked[w.current] || w.failed
}
