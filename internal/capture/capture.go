// Package capture renders one request in a fresh incognito tab whose traffic
// goes through its own egress-guard session, and returns the bytes.
package capture

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strconv"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	brw "github.com/pixashot/pixashot-cloudrun/internal/browser"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/extract"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/useragent"
)

// Engine captures pages.
type Engine struct {
	Browsers *brw.Manager
	Guard    *egress.Guard
	Limits   Limits
	Assets   Assets // the data block_* options use
	// PNGForSpeed encodes PNGs with Chrome's fast settings (PNG_ENCODING).
	PNGForSpeed bool

	warm   chan warmTab  // ready tabs (StartWarm); nil opens every tab on demand
	refill chan struct{} // asks the filler for another
}

// Result is a finished capture.
type Result struct {
	Data     []byte
	Metadata *Metadata // for response_type json (and format metadata)
	// The main document's HTTP status (0 for html_content) and, where the
	// target redirected, the URL it ended at.
	TargetStatus int
	FinalURL     string
	Egress       egress.Stats
	Phases       Phases // where the time went, for the log
}

// Phases are the milliseconds each step of a capture took (for the log),
// and the steps themselves in order (for metrics and traces).
type Phases struct {
	Tab, Setup, Load, Idle, Prepare, Output int64
	Steps                                   []Step `json:"-"`
}

// Step is one phase of a capture as it ran: tab (a tab and its settings),
// navigate (to the load event), wait (network quiet), clean (banners,
// blocking, the page's own waits), render (Chrome draws and encodes).
type Step struct {
	Phase      string
	Start, End time.Time
}

// lap records phase from *t to now, returns its milliseconds and moves *t.
func (ph *Phases) lap(t *time.Time, phase string) int64 {
	now := time.Now()
	ph.Steps = append(ph.Steps, Step{Phase: phase, Start: *t, End: now})
	d := now.Sub(*t).Milliseconds()
	*t = now
	return d
}

// Capture renders o within ctx's deadline. The returned release closes the tab
// and the guard session; call it after the response is written, so disposal
// is off the client's critical path. release is never nil.
func (e *Engine) Capture(ctx context.Context, id string, o *options.Options) (*Result, func(), error) {
	via, err := e.proxy(ctx, o)
	if err != nil {
		return nil, func() {}, err
	}
	res, release, err := e.captureOnce(ctx, id, o, via)
	if errors.Is(err, errTabDied) {
		// A ready tab whose renderer died before the capture touched the
		// target (its crash event still on the way when it was taken): a
		// new tab costs the client nothing, the target saw no request.
		go release()
		res, release, err = e.captureOnce(ctx, id, o, via)
	}
	if errors.Is(err, errTabDied) {
		err = classify(ctx, brw.ErrUnavailable)
	}
	if err != nil && ctx.Err() != nil {
		// Out of time: is it the page, or has the browser stopped answering?
		e.Browsers.Check()
	}
	return res, release, err
}

// errTabDied marks a capture whose tab died before its navigation started.
var errTabDied = errors.New("the tab died before the navigation")

// CheckProxy answers for o's proxy option as the capture would: a
// submitted job is told now.
func (e *Engine) CheckProxy(ctx context.Context, o *options.Options) error {
	_, err := e.proxy(ctx, o)
	return err
}

// proxy is the client's proxy of o, once the egress policy allows it.
func (e *Engine) proxy(ctx context.Context, o *options.Options) (*egress.Proxy, error) {
	if o.Proxy == "" {
		return nil, nil
	}
	p, err := egress.ParseProxy(o.Proxy)
	if err != nil {
		return nil, invalid("proxy", err.Error())
	}
	switch err := e.Guard.CheckProxy(ctx, p); {
	case errors.Is(err, egress.ErrNoChaining):
		return nil, invalid("proxy", "is refused: this deployment sends every connection through its own upstream proxy, and PROXY_CHAINING is off")
	case err != nil:
		return nil, invalid("proxy", "must be at a public address this service may reach")
	}
	return p, nil
}

func (e *Engine) captureOnce(ctx context.Context, id string, o *options.Options, via *egress.Proxy) (*Result, func(), error) {
	t := time.Now()
	var ph Phases
	wt, err := e.take(ctx, id)
	if err != nil {
		return nil, func() {}, classify(ctx, err)
	}
	sess, tab := wt.sess, wt.tab
	sess.SetProxy(via)
	release := func() {
		wt.close()
		e.askRefill()
	}
	ph.Tab = ph.lap(&t, "tab")
	// Every step runs on the tab, bounded by the request's deadline, and ends
	// at once if the renderer crashes or the browser dies.
	tctx, cancel := tab.Steps(ctx)
	defer cancel()
	var navigating bool
	r, err := e.render(tctx, tab, o, &ph, t, &navigating)
	if err != nil {
		switch cause := tab.Err(); {
		case cause != nil && ctx.Err() == nil && !navigating:
			return nil, release, errTabDied
		case cause != nil && ctx.Err() == nil:
			// The page's own error (a cancelled call, a closed pipe) is only
			// a symptom of the crash or the browser's death.
			err = cause
		case ctx.Err() != nil && errors.Is(err, context.Canceled):
			err = ctx.Err()
		}
		return nil, release, proxyFailed(classify(tctx, err), sess.ProxyFailure())
	}
	res := &Result{Data: r.data, Metadata: r.md, Egress: sess.Stats(), Phases: ph, TargetStatus: r.status}
	if o.URL != "" && r.finalURL != o.URL {
		res.FinalURL = r.finalURL
	}
	return res, release, nil
}

// rendered is what render made of the page.
type rendered struct {
	data     []byte
	md       *Metadata
	status   int
	finalURL string
}

// render runs the steps on tab and returns the capture, with the page's
// metadata when the answer carries it; *navigating turns true when the
// target is first asked for.
func (e *Engine) render(ctx context.Context, tab *brw.Tab, o *options.Options, ph *Phases, t time.Time, navigating *bool) (r rendered, err error) {
	ctx = withWorld(ctx)
	w, err := newWatch(ctx)
	if err != nil {
		return r, err
	}
	if err := setup(ctx, tab.BrowserContextID(), o); err != nil {
		return r, err
	}
	blk, err := e.newBlocker(ctx, o, func() string { return w.source(o) })
	if err != nil {
		return r, err
	}
	if err := newInterceptor(o, blk).start(ctx); err != nil {
		return r, err
	}
	cr, err := e.startConsent(ctx, o)
	if err != nil {
		return r, err
	}
	ph.Setup = ph.lap(&t, "tab")
	*navigating = true
	mark, err := navigate(ctx, w, o, ph, &t)
	if err != nil {
		return r, err
	}
	r.status, r.finalURL = w.document()
	if o.HTMLContent != "" {
		r.status = 0 // the synthetic origin's, not a target's
	}
	if options.Matches(o.Page.FailOnStatus, r.status) {
		return r, &Error{Kind: TargetStatus, Status: r.status,
			Message: "the target answered HTTP " + strconv.Itoa(r.status) + ", which fail_on_http_status names"}
	}
	if err := clean(ctx, w, o, cr, blk); err != nil {
		return r, err
	}
	if err := prepare(ctx, w, o); err != nil {
		return r, err
	}
	if err := settle(ctx, o); err != nil {
		return r, err
	}
	ph.Prepare = ph.lap(&t, "clean")
	if o.ResponseType == "json" || o.Format == "metadata" {
		if r.md, err = metadata(ctx, w, o); err != nil {
			return r, err
		}
	}
	r.data, err = e.output(ctx, w, o, r.md)
	ph.Output = ph.lap(&t, "render")
	if err != nil || w.stayed(mark, idleLimit(o.WaitForNetwork)) {
		return r, err
	}
	// The page started loading again while it was captured: wait for the
	// network to be quiet for the full window, then capture it again.
	waitCtx, cancel := context.WithTimeout(ctx, o.WaitForTimeout)
	_ = w.idle(waitCtx, idleLimit(o.WaitForNetwork))
	cancel()
	ph.Idle += ph.lap(&t, "wait")
	r.data, err = e.output(ctx, w, o, r.md)
	ph.Output += ph.lap(&t, "render")
	return r, err
}

// clean makes the loaded page look as a person sees it: the cookie dialog
// answered, ads and widgets hidden, the client's styles applied, lazy
// content loaded.
func clean(ctx context.Context, w *watch, o *options.Options, cr *consentRun, blk *blocker) error {
	if err := cr.wait(ctx, o); err != nil {
		return err
	}
	if err := restyle(ctx, w, o, blk); err != nil {
		return err
	}
	if o.Page.ScrollPage {
		return scrollPage(ctx, w, o)
	}
	return nil
}

// minOutputTime is the least the output step is given, whatever
// wait_for_timeout says: a large full-page image or PDF takes a while.
const minOutputTime = 5 * time.Second

// outputTimePerMP is what each million pixels an image may hold adds to
// that: a 64 MP full page takes seconds to paint and encode on a busy
// instance, a viewport almost nothing.
const outputTimePerMP = 250 * time.Millisecond

// outputTime bounds the output step: the request's wait_for_timeout, at
// least minOutputTime, plus the time its pixels may take (a full page's
// upper bound is MAX_PIXELS).
func outputTime(o *options.Options, lim Limits) time.Duration {
	px := float64(o.WindowWidth) * float64(o.WindowHeight) * o.PixelDensity * o.PixelDensity
	if o.FullPage && lim.MaxPixels > 0 {
		px = float64(lim.MaxPixels)
	}
	return max(o.WaitForTimeout, minOutputTime) + time.Duration(px/1e6*float64(outputTimePerMP))
}

// output takes the capture, bounded by outputTime: a page whose script
// hangs the renderer answers 504 then, not at CAPTURE_TIMEOUT.
func (e *Engine) output(ctx context.Context, w *watch, o *options.Options, md *Metadata) ([]byte, error) {
	if o.Format == "metadata" {
		return json.Marshal(md)
	}
	var data []byte
	err := bounded(ctx, outputTime(o, e.Limits), "the page did not let itself be captured within wait_for_timeout and the time its size allows",
		func(ctx context.Context) error {
			var err error
			switch o.Format {
			case "markdown", "text":
				data, err = e.mainContent(ctx, w, o)
			case "links":
				data, err = links(ctx, o)
			case "json_ld":
				data, err = structuredData(ctx, o)
			default:
				data, err = output(ctx, o, e.Limits, e.PNGForSpeed)
			}
			return err
		})
	return data, err
}

// setup applies everything the page must see from its first byte: viewport,
// user agent, colour scheme, background, position, TLS policy.
func setup(ctx context.Context, bc cdp.BrowserContextID, o *options.Options) error {
	mobile := o.UserAgentDevice == "mobile"
	steps := []chromedp.Action[chromedp.Void]{
		call(emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: int64(o.WindowWidth), Height: int64(o.WindowHeight), DeviceScaleFactor: o.PixelDensity, Mobile: mobile,
		}),
	}
	ua := o.UserAgent
	if ua == "" && o.UseRandomUserAgent {
		ua = useragent.Random(o.UserAgentDevice, o.UserAgentPlatform, o.UserAgentBrowser)
	}
	if ua != "" || o.Page.Locale != "" {
		steps = append(steps, userAgent(ua, o.Page.Locale))
	}
	steps = append(steps, emulate(o)...)
	steps = append(steps, deterministicSetup(o)...)
	if o.DarkMode {
		steps = append(steps, call(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}))
	}
	switch {
	case o.OmitBackground && o.Format != "jpeg":
		steps = append(steps, call(transparentBackground, transparentParams{}))
	case o.Background != nil:
		var p transparentParams
		p.Color.R, p.Color.G, p.Color.B, p.Color.A = int(o.Background.R), int(o.Background.G), int(o.Background.B), o.Background.A
		steps = append(steps, call(transparentBackground, p))
	}
	if g := o.Geolocation; g != nil {
		steps = append(steps,
			browserCall(browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, BrowserContextID: bc,
			}),
			call(emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{
				Latitude: new(g.Latitude), Longitude: new(g.Longitude), Accuracy: new(g.Accuracy),
			}))
	}
	if o.IgnoreHTTPSErrors {
		// Per target: the other captures of this browser keep checking.
		steps = append(steps, call(security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true}))
	}
	return chromedp.Do(ctx, steps...)
}

// navigate loads the target and waits as the client asked. A navigation the
// guard refused, or that failed, is a NavigationError with no detail: the
// detail (refused, DNS, connection refused) would make this a port scanner.
//
// Network idle is checked through the capture instead of before it: once
// the page has loaded and no request is in flight, the capture starts at
// once, and render takes it again after a full quiet window if any request
// started meanwhile. A quiet page costs no waiting; a busy one is captured
// as it settles.
func navigate(ctx context.Context, w *watch, o *options.Options, ph *Phases, t *time.Time) (quietMark, error) {
	waitCtx, cancel := context.WithTimeout(ctx, o.WaitForTimeout)
	defer cancel()
	res, err := chromedp.Call(waitCtx, page.Navigate, page.NavigateParams{URL: targetURL(o)})
	switch {
	case err != nil:
		return quietMark{}, waitErr(ctx, err, "the page did not start loading within wait_for_timeout")
	case res.ErrorText != "" || w.refused(res.LoaderID):
		return quietMark{}, navigationFailed()
	case res.IsDownload:
		return quietMark{}, fail(Navigation, "the target is a download, not a page")
	}
	if err := w.loaded(waitCtx, res.LoaderID); err != nil {
		return quietMark{}, waitErr(ctx, err, "the page did not finish loading within wait_for_timeout")
	}
	if w.refused(res.LoaderID) {
		return quietMark{}, navigationFailed()
	}
	ph.Load = ph.lap(t, "navigate")
	// Best effort: a page that polls forever is still captured.
	mark, _ := w.quiet(waitCtx, idleLimit(o.WaitForNetwork))
	ph.Idle = ph.lap(t, "wait")
	return mark, ctx.Err()
}

func idleLimit(mode string) int {
	if mode == "mostly_idle" || mode == "network_mostly_idle" {
		return 2
	}
	return 0
}

func navigationFailed() error {
	return fail(Navigation, "the target could not be loaded")
}

// waitErr turns a wait that ran out into a 504 unless the whole capture ended
// for another reason.
func waitErr(ctx context.Context, err error, msg string) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fail(Timeout, msg)
	}
	return err
}

// proxyFailed makes a target that could not be loaded, or that timed out,
// the proxy's error when a proxy on the way failed: the client learns what
// its proxy said, not that the target is unreachable.
func proxyFailed(err error, pf *egress.ProxyError) error {
	var ce *Error
	if pf == nil || !errors.As(err, &ce) || (ce.Kind != Navigation && ce.Kind != Timeout) {
		return err
	}
	return &Error{Kind: ProxyFailed, Message: pf.Message, Cause: err}
}

// classify turns what is left after the steps into the capture's errors.
func classify(ctx context.Context, err error) error {
	var ce *Error
	var fe *options.FieldError
	switch {
	case errors.As(err, &ce), errors.As(err, &fe):
		return err
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Kind: Timeout, Message: "the capture did not finish within the time limit", Cause: err}
	case errors.Is(err, brw.ErrCrashed):
		// A page that crashes its renderer is the target's fault.
		return &Error{Kind: Navigation, Message: "the page crashed the browser's renderer or went over its memory limit", Cause: err}
	case errors.Is(err, brw.ErrUnavailable) || browserExited(err):
		return &Error{Kind: Unavailable, Message: "the browser is restarting; retry shortly", Cause: err}
	}
	return &Error{Kind: Internal, Message: "the capture failed", Cause: err}
}

// mainContent is the page's article as Markdown or text, from the rendered
// DOM (bounded like HTML output) through readability.
func (e *Engine) mainContent(ctx context.Context, w *watch, o *options.Options) ([]byte, error) {
	page, err := serializeHTML(ctx, e.Limits.MaxOutputBytes)
	if err != nil {
		return nil, err
	}
	_, pageURL := w.document()
	convert := extract.Markdown
	switch {
	case o.Format == "text":
		convert = extract.Text
	case o.MarkdownMode == "full":
		convert = extract.FullMarkdown
	}
	out, err := convert(page, pageURL)
	if errors.Is(err, extract.ErrNoContent) {
		return nil, invalid("format", "found no main content in the page to extract")
	}
	if err == nil && e.Limits.MaxOutputBytes > 0 && int64(len(out)) > e.Limits.MaxOutputBytes {
		return nil, tooLarge(e.Limits.MaxOutputBytes)
	}
	return out, err
}

// ErrRendererCrashed is the cause of a capture whose renderer crashed.
var ErrRendererCrashed = brw.ErrCrashed

// browserExited reports an error chromedp gives when the browser process
// died under a call, which can come before the tab's context ends.
func browserExited(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// transparentBackground is Emulation.setDefaultBackgroundColorOverride with an
// alpha that is really sent, 0 included: cdp.RGBA omits a zero alpha, which
// Chrome reads as the default, opaque. It also sets background_color.
var transparentBackground = cdp.Command[transparentParams, cdp.Empty]{Method: emulation.CommandSetDefaultBackgroundColorOverride}

type transparentParams struct {
	Color struct {
		R int     `json:"r"`
		G int     `json:"g"`
		B int     `json:"b"`
		A float64 `json:"a"`
	} `json:"color"`
}

// call is an action that sends one command to the tab.
func call[P, R any](cmd cdp.Command[P, R], p P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cmd, p)
		return err
	})
}

// browserCall sends one command to the browser.
func browserCall[P, R any](cmd cdp.Command[P, R], p P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cmd, p)
		return err
	})
}
