package capture

import (
	"context"
	"sync"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/consent"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// consentWorld is the isolated world autoconsent runs in, in every frame:
// its binding exists only there, so page script can neither call it nor
// see the rules.
const consentWorld = "pixashot-consent"

// Bounds of one capture's consent handling: the messages read (a page
// cannot make the service work without end), one eval's time, and the
// wait for the verdict.
const (
	maxConsentMessages = 2000
	consentEvalTime    = time.Second
	maxConsentWait     = 6 * time.Second
)

// consentRun drives autoconsent in one tab: it answers the script's init
// and eval messages and records when the top frame's dialog is settled.
type consentRun struct {
	script  *consent.Script
	settled chan struct{}
	once    sync.Once
}

// startConsent injects autoconsent before the navigation, so it sees the
// page from its first byte (and hides known dialogs before they paint).
func (e *Engine) startConsent(ctx context.Context, o *options.Options) (*consentRun, error) {
	if !o.Page.BlockCookieBanners {
		return nil, nil
	}
	s, err := e.Assets.consent(ctx)
	if err != nil {
		return nil, err
	}
	r := &consentRun{script: s, settled: make(chan struct{})}
	calls := chromedp.Events(ctx, runtime.BindingCalled)
	if err := chromedp.Do(ctx,
		call(runtime.AddBinding, runtime.AddBindingParams{Name: consent.BindingName, ExecutionContextName: consentWorld}),
		call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: s.Source, WorldName: consentWorld}),
	); err != nil {
		return nil, err
	}
	go func() {
		n := 0
		for ev, err := range calls {
			if err != nil {
				return
			}
			if ev.Name != consent.BindingName {
				continue
			}
			if n++; n > maxConsentMessages {
				r.settle()
				return
			}
			r.handle(ctx, &ev)
		}
	}()
	return r, nil
}

func (r *consentRun) settle() { r.once.Do(func() { close(r.settled) }) }

func (r *consentRun) handle(ctx context.Context, ev *runtime.EventBindingCalled) {
	m, err := consent.Parse(ev.Payload)
	if err != nil {
		return
	}
	switch b := m.Body; b.Type {
	case "init":
		r.send(ctx, ev.ExecutionContextID, r.script.InitResp)
	case "eval":
		// The code is the rule set's, sent from the isolated world the page
		// cannot reach; it runs in the top frame's page world, bounded.
		// A frame's evals are answered false.
		ok := false
		if m.Top {
			ectx, cancel := context.WithTimeout(ctx, consentEvalTime)
			ok, _ = chromedp.Run(ectx, chromedp.Evaluate[bool](
				`(async () => { const f = (`+b.Code+`); return !!(typeof f === "function" ? await f() : f); })()`,
				chromedp.EvalAwaitPromise))
			cancel()
		}
		r.send(ctx, ev.ExecutionContextID, consent.EvalResp(b.ID, ok))
	case "report":
		if m.Top && b.MainFrame && consent.Settled(b.State.Lifecycle) {
			r.settle()
		}
	case "autoconsentDone", "optOutResult":
		if m.Top {
			r.settle()
		}
	}
}

// send delivers a message to the script in the world it came from; the
// script's promise is not awaited (an answer may start a long opt-out).
func (r *consentRun) send(ctx context.Context, id runtime.ExecutionContextID, msg string) {
	sctx, cancel := context.WithTimeout(ctx, consentEvalTime)
	defer cancel()
	_, _ = chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](
		"window.autoconsentReceiveMessage && void window.autoconsentReceiveMessage("+msg+")", inContext(id)))
}

// wait holds the capture until the dialog is answered or known absent, at
// most maxConsentWait (and wait_for_timeout); then hides any cookie notice
// no rule knew.
func (r *consentRun) wait(ctx context.Context, o *options.Options) error {
	if r == nil {
		return nil
	}
	t := time.NewTimer(min(maxConsentWait, o.WaitForTimeout))
	defer t.Stop()
	select {
	case <-r.settled:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return hideNotices(ctx)
}
