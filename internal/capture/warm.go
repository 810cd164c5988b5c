package capture

import (
	"context"
	"time"

	brw "github.com/pixashot/pixashot-cloudrun/internal/browser"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
)

// warmTab is a fresh incognito tab with its own guard session, opened before
// a request needs it so that opening one is off the critical path. It is
// used by exactly one capture and disposed of after it, like any other tab:
// isolation is the same, only the moment it is made changes.
//
// The next one is opened after a capture's response, not when the capture
// takes its tab: opening a tab (a context, a renderer) costs about as much
// CPU as the capture itself, and on two cores the two slowed each other. An
// instance with a moment between captures has the next tab ready before the
// next request, and the capture has the CPU to itself. Back to back, a
// request may find none ready and open its own, as with no warm tab; that
// measured no slower than the overlap.
type warmTab struct {
	sess *egress.Session
	tab  *brw.Tab
}

func (w warmTab) close() {
	w.tab.Close()
	w.sess.Close()
}

// open makes a tab and its session.
func (e *Engine) open(ctx context.Context, label string) (warmTab, error) {
	sess, err := e.Guard.Open(label)
	if err != nil {
		return warmTab{}, err
	}
	sess.SetClient(clientOf(ctx))
	tab, err := e.Browsers.NewTab(ctx, brw.TabOptions{ProxyURL: sess.ProxyURL()})
	if err != nil {
		sess.Close()
		return warmTab{}, err
	}
	return warmTab{sess, tab}, nil
}

// StartWarm keeps n tabs open and waiting; stop closes them and returns
// when they are closed. n = 0 opens every tab on demand.
func (e *Engine) StartWarm(n int) (stop func()) {
	if n <= 0 {
		return func() {}
	}
	e.warm = make(chan warmTab, n)
	e.refill = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.keepWarm(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (e *Engine) keepWarm(ctx context.Context) {
	defer func() {
		for {
			select {
			case w := <-e.warm:
				w.close()
			default:
				return
			}
		}
	}()
	for {
		for len(e.warm) < cap(e.warm) {
			octx, cancel := context.WithTimeout(ctx, 15*time.Second)
			w, err := e.open(octx, "warm")
			cancel()
			if err != nil {
				// The browser is (re)starting; try again shortly.
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
				continue
			}
			select {
			case e.warm <- w:
			default: // cannot happen with a single filler; never leak it
				w.close()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.refill:
		}
	}
}

// WaitWarm returns once a warm tab is ready, or when ctx ends: the first
// request then finds one, as every later one with a moment before it does.
func (e *Engine) WaitWarm(ctx context.Context) {
	if e.warm == nil {
		return
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for len(e.warm) == 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// askRefill wakes the filler; Capture's release calls it once the tab it
// took is closed.
func (e *Engine) askRefill() {
	select {
	case e.refill <- struct{}{}: // nil without StartWarm: never ready
	default:
	}
}

type coldKey struct{}

type clientKey struct{}

// ForClient names the client a capture is for, on what it counts (the
// egress guard's refusals).
func ForClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}

// Cold marks a capture nobody waits on (an async job): it opens its own tab
// and leaves the warm ones to requests whose callers are waiting.
func Cold(ctx context.Context) context.Context { return context.WithValue(ctx, coldKey{}, true) }

// take returns a warm tab for the capture id, or opens one now when none is
// ready (or the capture is Cold). A ready tab whose Chrome died or is being
// replaced is discarded.
func (e *Engine) take(ctx context.Context, id string) (warmTab, error) {
	if cold, _ := ctx.Value(coldKey{}).(bool); cold {
		return e.open(ctx, id)
	}
	for e.warm != nil {
		var w warmTab
		select {
		case w = <-e.warm:
		default:
			return e.open(ctx, id)
		}
		if w.tab.Stale() {
			go w.close()
			continue
		}
		w.sess.SetLabel(id)
		w.sess.SetClient(clientOf(ctx))
		return w, nil
	}
	return e.open(ctx, id)
}
