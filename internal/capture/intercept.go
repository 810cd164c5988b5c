package capture

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// htmlOrigin is where html_content is served from: an https origin that exists
// only inside the tab (fulfilled by the interceptor, never on the network), so
// user HTML never runs from file:// and sees no other request's files. Being
// https, it is a secure context, as a real page would be.
const htmlOrigin = "https://render.pixashot.invalid"

// htmlURL is the document of an html_content capture.
const htmlURL = htmlOrigin + "/"

// targetURL is what the tab navigates to: the client's URL, or the
// synthetic document of html_content.
func targetURL(o *options.Options) string {
	if o.HTMLContent != "" {
		return htmlURL
	}
	return o.URL
}

// refusedSchemes are failed wherever they appear in a page, in a capture
// that intercepts anyway. Chrome refuses them itself from an http(s) page
// (TestLocalSchemesInsidePages): that is the braces, this the belt, worn
// only where it costs nothing more.
var refusedSchemes = []string{"file:", "filesystem:", "view-source:", "chrome:", "chrome-extension:", "devtools:", "ftp:"}

// interceptor decides the requests the tab pauses. Only requests matching its
// patterns pause, but once Fetch is on every request of the tab passes
// through Chrome's interception in the browser process (5-7% of Chrome's
// CPU on heavy pages, docs/performance.md): an ordinary capture, which needs
// none of it, does not turn it on.
type interceptor struct {
	html       []byte
	blockMedia bool
	headers    []*fetch.HeaderEntry
	headerPat  string   // origin pattern the custom headers are scoped to
	headerPre  string   // the same origin as a URL prefix, for requests paused by another pattern
	block      *blocker // nil: no list applies
	mainFrame  cdp.FrameID
}

func newInterceptor(o *options.Options, b *blocker) *interceptor {
	ic := &interceptor{blockMedia: o.BlockMedia, block: b}
	if o.HTMLContent != "" {
		ic.html = []byte(o.HTMLContent)
	}
	if len(o.CustomHeaders) > 0 && o.URL != "" {
		if u, err := url.Parse(o.URL); err == nil {
			// Headers go to the target's origin only: never to a third party
			// the page embeds, nor to where a redirect leads. The pattern is
			// the origin as Chrome writes it: lower case, no default port.
			scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
			if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
				host = strings.ToLower(u.Hostname())
				if strings.Contains(host, ":") {
					host = "[" + host + "]"
				}
			}
			ic.headerPat = scheme + "://" + escapePattern(host) + "/*"
			ic.headerPre = scheme + "://" + host + "/"
			for name, val := range o.CustomHeaders {
				ic.headers = append(ic.headers, &fetch.HeaderEntry{Name: name, Value: val})
			}
		}
	}
	return ic
}

// escapePattern escapes the wildcard characters of a Fetch URL pattern.
func escapePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`)
	return r.Replace(s)
}

// RefusedSchemePatterns are refusedSchemes as Fetch patterns (the bench
// measures what they cost).
func RefusedSchemePatterns() []*fetch.RequestPattern {
	ps := make([]*fetch.RequestPattern, len(refusedSchemes))
	for i, s := range refusedSchemes {
		ps[i] = &fetch.RequestPattern{URLPattern: s + "*"}
	}
	return ps
}

// patterns are what the capture pauses: nil when it asks for nothing only
// interception does (its own document, media blocked, headers, block
// lists), else those and the refused schemes.
func (ic *interceptor) patterns() []*fetch.RequestPattern {
	var ps []*fetch.RequestPattern
	if ic.html != nil {
		ps = append(ps, &fetch.RequestPattern{URLPattern: htmlOrigin + "/*"})
	}
	if ic.blockMedia {
		for _, t := range []network.ResourceType{network.ResourceTypeImage, network.ResourceTypeMedia} {
			ps = append(ps, &fetch.RequestPattern{URLPattern: "*", ResourceType: t})
		}
	}
	if ic.headerPat != "" {
		ps = append(ps, &fetch.RequestPattern{URLPattern: ic.headerPat})
	}
	if ic.block != nil {
		// Every request, to be matched against the lists: this costs a
		// round trip per request, only for captures that block.
		ps = append(ps, &fetch.RequestPattern{URLPattern: "*"})
	}
	if ps == nil {
		return nil
	}
	return append(RefusedSchemePatterns(), ps...)
}

// start enables interception, if the capture needs it, and answers paused
// requests until ctx ends.
func (ic *interceptor) start(ctx context.Context) error {
	patterns := ic.patterns()
	if patterns == nil {
		return nil
	}
	if ic.block != nil {
		tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
		if err != nil {
			return err
		}
		ic.mainFrame = tree.FrameTree.Frame.ID
	}
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: patterns}); err != nil {
		return err
	}
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			ic.decide(ctx, &ev)
		}
	}()
	return nil
}

func (ic *interceptor) decide(ctx context.Context, ev *fetch.EventRequestPaused) {
	u := ev.Request.URL
	id := ev.RequestID
	var err error
	switch {
	case !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://"):
		_, err = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: id, ErrorReason: network.ErrorReasonAccessDenied})
	case ic.html != nil && strings.HasPrefix(u, htmlOrigin+"/"):
		if u == htmlURL && ev.ResourceType == network.ResourceTypeDocument {
			_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
				RequestID: id, ResponseCode: http.StatusOK, Body: ic.html,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
			})
		} else {
			// The synthetic origin has nothing else on it.
			_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: id, ResponseCode: http.StatusNotFound})
		}
	case ic.blockMedia && (ev.ResourceType == network.ResourceTypeImage || ev.ResourceType == network.ResourceTypeMedia):
		_, err = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: id, ErrorReason: network.ErrorReasonBlockedByClient})
	case ic.block != nil && ic.blocked(ev):
		_, err = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: id, ErrorReason: network.ErrorReasonBlockedByClient})
	case ic.headers != nil && strings.HasPrefix(u, ic.headerPre):
		_, err = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id, Headers: ic.withHeaders(ev.Request.Headers)})
	default:
		_, err = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
	}
	_ = err // the tab may be gone; a stuck request ends with the capture deadline
}

// blocked asks the lists about a request; the top frame's document is the
// client's target and is never blocked.
func (ic *interceptor) blocked(ev *fetch.EventRequestPaused) bool {
	typ := string(ev.ResourceType)
	if ev.ResourceType == network.ResourceTypeDocument {
		if ev.FrameID == ic.mainFrame {
			return false
		}
		typ = "SubFrame"
	}
	return ic.block.blocks(ev.Request.URL, typ)
}

// withHeaders merges the custom headers into the request's own, replacing any
// of the same name.
func (ic *interceptor) withHeaders(h network.Headers) []*fetch.HeaderEntry {
	out := make([]*fetch.HeaderEntry, 0, len(h)+len(ic.headers))
	for name, v := range h {
		if ic.overrides(name) {
			continue
		}
		if s, ok := v.(string); ok {
			out = append(out, &fetch.HeaderEntry{Name: name, Value: s})
		}
	}
	return append(out, ic.headers...)
}

func (ic *interceptor) overrides(name string) bool {
	for _, h := range ic.headers {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}
