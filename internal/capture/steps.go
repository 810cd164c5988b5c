package capture

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// prepare runs what happens between load and capture, in the original's order:
// the client's script, the selector wait, the interactions, animations, delay.
func prepare(ctx context.Context, w *watch, o *options.Options) error {
	if o.CustomJS != "" {
		if err := bounded(ctx, o.WaitForTimeout, "custom_js did not finish within wait_for_timeout", func(ctx context.Context) error {
			return runScript(ctx, o.CustomJS)
		}); err != nil {
			return err
		}
	}
	if o.WaitForSelector != "" {
		if err := waitSelector(ctx, "wait_for_selector", o.WaitForSelector, o.WaitForTimeout); err != nil {
			return err
		}
	}
	for i, it := range o.Interactions {
		field := fmt.Sprintf("interactions[%d]", i)
		limit := o.WaitForTimeout
		switch {
		case it.WaitFor != nil && it.WaitFor.Type == "selector":
			limit = max(limit, it.WaitFor.Duration) // the step's own timeout
		case it.WaitFor != nil:
			limit += it.WaitFor.Duration // its own wait, plus room to act
		}
		if err := bounded(ctx, limit, field+" did not finish within wait_for_timeout", func(ctx context.Context) error {
			return interact(ctx, w, field, it, o.WaitForTimeout)
		}); err != nil {
			return err
		}
	}
	if o.WaitForAnimation {
		if err := waitAnimations(ctx, o.WaitForTimeout); err != nil {
			return err
		}
	}
	return sleep(ctx, o.DelayCapture)
}

// runScript evaluates the client's JavaScript as page script (under the same
// egress policy as the page) and awaits a returned promise. It runs in REPL
// mode, as the DevTools console does, so a top-level await (the original's
// documented examples use it) is awaited too.
func runScript(ctx context.Context, js string) error {
	_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js, chromedp.EvalAwaitPromise, replMode))
	var ex *chromedp.ExceptionError
	if errors.As(err, &ex) {
		return invalid("custom_js", "threw an exception: "+truncate(ex.Error(), 200))
	}
	return err
}

func replMode(p *runtime.EvaluateParams) { p.ReplMode = new(true) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// visibleJS tells whether sel matches an element that takes up space; it
// returns "invalid" for a selector the page cannot parse.
const visibleJS = `(sel) => {
	let el;
	try { el = document.querySelector(sel); } catch (e) { return "invalid"; }
	if (!el) return "";
	const r = el.getBoundingClientRect();
	const s = getComputedStyle(el);
	return (r.width > 0 && r.height > 0 && s.visibility !== "hidden") ? "visible" : "";
}`

// waitSelector polls until sel matches a visible element, for at most limit.
func waitSelector(ctx context.Context, field, sel string, limit time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		state, err := callJS[string](wctx, visibleJS, sel)
		switch {
		case err != nil:
			return waitErr(ctx, err, field+" did not match a visible element within wait_for_timeout")
		case state == "invalid":
			return invalid(field, "is not a valid CSS selector")
		case state == "visible":
			return nil
		}
		if err := sleep(wctx, 50*time.Millisecond); err != nil {
			return waitErr(ctx, err, field+" did not match a visible element within wait_for_timeout")
		}
	}
}

// centerJS scrolls the element into view and returns its centre in viewport
// coordinates, for the mouse.
const centerJS = `(sel) => {
	const el = document.querySelector(sel);
	el.scrollIntoView({block: "center", inline: "center"});
	const r = el.getBoundingClientRect();
	return [r.left + r.width / 2, r.top + r.height / 2];
}`

// focusJS focuses the element, as a click into a field would.
const focusJS = `(sel) => { document.querySelector(sel).focus(); }`

// navigationGrace is how long after an action a navigation it caused (a
// submit handler, a link) may take to start.
const navigationGrace = 150 * time.Millisecond

// followNavigation runs act; if it started a navigation of the main frame,
// it waits (bounded by limit) for the new document to load, so the next step
// and the capture see the page the action led to. A navigation that does not
// finish in time is left as it is: the capture takes what is there.
func followNavigation(ctx context.Context, w *watch, limit time.Duration, act func() error) error {
	before := w.navigations()
	if err := act(); err != nil {
		return err
	}
	if err := sleep(ctx, navigationGrace); err != nil {
		return err
	}
	if w.navigations().started == before.started {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	_ = w.committedAndLoaded(wctx, before)
	return ctx.Err()
}

// scrollJS scrolls and resolves once the page has seen it: the scroll event
// fires in the next frame, before its animation-frame callbacks. The timer
// is for a page that gets no frames.
const scrollJS = `(x, y) => new Promise(done => {
	window.scrollTo(x, y);
	requestAnimationFrame(() => requestAnimationFrame(done));
	setTimeout(done, 200);
})`

func interact(ctx context.Context, w *watch, field string, it options.Interaction, limit time.Duration) error {
	if it.Selector != "" && it.Action != "wait_for" {
		if err := waitSelector(ctx, field+".selector", it.Selector, limit); err != nil {
			return err
		}
	}
	switch it.Action {
	case "click":
		// By the element's centre, not a node query: a click that navigates
		// would leave a query waiting for its node on the next page.
		return followNavigation(ctx, w, limit, func() error {
			xy, err := callJS[[2]float64](ctx, centerJS, it.Selector)
			if err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.MouseClickXY(xy[0], xy[1]))
		})
	case "type":
		return followNavigation(ctx, w, limit, func() error {
			if _, err := callJS[chromedp.Void](ctx, focusJS, it.Selector); err != nil {
				return err
			}
			return chromedp.Do(ctx, chromedp.KeyEvent(it.Text))
		})
	case "hover":
		xy, err := callJS[[2]float64](ctx, centerJS, it.Selector)
		if err != nil {
			return err
		}
		return chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, xy[0], xy[1]))
	case "scroll":
		if it.Selector != "" {
			return chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.CSS(it.Selector)))
		}
		_, err := callJS[chromedp.Void](ctx, scrollJS, it.X, it.Y)
		return err
	case "wait_for":
		return waitFor(ctx, w, field, it.WaitFor)
	}
	return invalid(field+".action", "is not supported")
}

func waitFor(ctx context.Context, w *watch, field string, wf *options.WaitFor) error {
	switch wf.Type {
	case "timeout":
		return sleep(ctx, wf.Duration)
	case "selector":
		limit := time.Until(deadline(ctx))
		if wf.Duration > 0 {
			limit = wf.Duration // wait_for.timeout, the original's per-step limit
		}
		return waitSelector(ctx, field+".wait_for.value", wf.Selector, limit)
	}
	// Network waits are best effort, like the one after load.
	wctx, cancel := context.WithTimeout(ctx, wf.Duration)
	defer cancel()
	_ = w.idle(wctx, idleLimit(wf.Type))
	return ctx.Err()
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Minute)
}

// animationsJS resolves when every running animation that will end has ended
// (infinite ones are skipped) and two frames have been painted, or after ms.
const animationsJS = `(ms) => Promise.race([
	Promise.all(document.getAnimations()
		.filter(a => { const t = a.effect && a.effect.getComputedTiming(); return !t || t.endTime !== Infinity; })
		.map(a => a.finished.catch(() => {})))
		.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))),
	new Promise(r => setTimeout(r, ms)),
])`

func waitAnimations(ctx context.Context, limit time.Duration) error {
	// The page's timer ends the wait unless the page hangs; the Go side
	// bounds that case.
	return bounded(ctx, limit+time.Second, "wait_for_animation did not finish within wait_for_timeout", func(ctx context.Context) error {
		_, err := callJS[chromedp.Void](ctx, animationsJS, limit.Milliseconds())
		return err
	})
}

// bounded runs step within limit: a page that hangs (a busy loop, a promise
// that never settles) costs the request the time it allowed, a 504, not the
// whole CAPTURE_TIMEOUT.
func bounded(ctx context.Context, limit time.Duration, msg string, step func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return waitErr(ctx, step(sctx), msg)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
