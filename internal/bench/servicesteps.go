package main

import (
	"context"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/capture"
)

// The service's own per-tab work, each step added alone to the isolated
// floor as a lever: what it costs Chrome, apart from everything else.

// interceptAsTheService enables Fetch on the tab of ctx with the refused
// schemes' patterns, which the service set in every capture until this
// lever measured them, and now sets only in captures that intercept anyway:
// none matches an http(s) request, so what they cost is interception
// itself. Anything that pauses is failed, as the service fails it.
func interceptAsTheService(ctx context.Context) error {
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: capture.RefusedSchemePatterns()}); err != nil {
		return err
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonAccessDenied})
		}
	}()
	return nil
}

// inflight counts the tab's requests as the service's watch does.
type inflight struct {
	mu     sync.Mutex
	open   map[network.RequestID]bool
	starts int
	last   time.Time
}

func watchRequests(ctx context.Context) (*inflight, error) {
	n := &inflight{open: map[network.RequestID]bool{}, last: time.Now()}
	return n, chromedp.Listen(ctx, func(ev any) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if !n.open[ev.RequestID] {
				n.starts++
			}
			n.open[ev.RequestID] = true
		case *network.EventLoadingFinished:
			delete(n.open, ev.RequestID)
		case *network.EventLoadingFailed:
			delete(n.open, ev.RequestID)
		default:
			return
		}
		n.last = time.Now()
	})
}

// waitFor polls cond (under the lock) until it holds or limit passes.
func (n *inflight) waitFor(limit time.Duration, cond func() bool) {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		ok := cond()
		n.mu.Unlock()
		if ok {
			return
		}
	}
}

// shootAsTheServiceWaits loads url, waits until none of the tab's requests
// is in flight, takes the PNG, and, when a request started meanwhile, waits
// for 500 ms without one and takes it again: the service's network-idle
// wait (capture's navigate and render). again says whether it took two.
func shootAsTheServiceWaits(ctx context.Context, url string, fast bool) (b []byte, again bool, err error) {
	n, err := watchRequests(ctx)
	if err != nil {
		return nil, false, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		return nil, false, err
	}
	const limit = 8 * time.Second // the service's default wait_for_timeout
	n.waitFor(limit, func() bool { return len(n.open) == 0 })
	n.mu.Lock()
	mark := n.starts
	n.mu.Unlock()
	png := encodeWay{format: page.CaptureScreenshotFormatPng, fast: fast}
	if b, err = shot(ctx, png, nil); err != nil {
		return nil, false, err
	}
	n.mu.Lock()
	again = n.starts != mark
	n.mu.Unlock()
	if !again {
		return b, false, nil
	}
	n.waitFor(limit, func() bool { return len(n.open) == 0 && time.Since(n.last) >= 500*time.Millisecond })
	b, err = shot(ctx, png, nil)
	return b, true, err
}

// domainsOff disables the CSS and DOM domains chromedp enabled on the tab
// (CSS first: it stands on DOM).
func domainsOff(ctx context.Context) error {
	if _, err := chromedp.Call(ctx, css.Disable, cdp.Empty{}); err != nil {
		return err
	}
	_, err := chromedp.Call(ctx, dom.Disable, cdp.Empty{})
	return err
}
