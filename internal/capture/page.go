package capture

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// userAgent overrides the user agent and, for a locale, the language the
// page reads in navigator.language(s) and the Accept-Language it sends. The
// browser's own agent is kept when only the locale changes.
func userAgent(ua, locale string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if ua == "" {
			v, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
			if err != nil {
				return err
			}
			ua = v.UserAgent
		}
		p := emulation.SetUserAgentOverrideParams{UserAgent: ua}
		if locale != "" {
			p.AcceptLanguage = acceptLanguage(locale)
		}
		_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, p)
		return err
	})
}

// acceptLanguage is "de-CH,de;q=0.9" for de-CH, as a browser set to it sends.
func acceptLanguage(locale string) string {
	if base, _, ok := strings.Cut(locale, "-"); ok {
		return locale + "," + base + ";q=0.9"
	}
	return locale
}

// emulate is the page options' part of setup: the clock, Intl and cookies.
func emulate(o *options.Options) []chromedp.Action[chromedp.Void] {
	var steps []chromedp.Action[chromedp.Void]
	p := &o.Page
	if p.Timezone != "" {
		steps = append(steps, call(emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: p.Timezone}))
	}
	if p.Locale != "" {
		// ICU's spelling: de_CH.
		steps = append(steps, call(emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: strings.ReplaceAll(p.Locale, "-", "_")}))
	}
	if len(p.Cookies) > 0 {
		steps = append(steps, call(network.SetCookies, network.SetCookiesParams{Cookies: cookieParams(o)}))
	}
	return steps
}

// cookieParams scopes each cookie to the target's host unless it names a
// domain: set in the capture's own incognito context, gone with it.
func cookieParams(o *options.Options) []*network.CookieParam {
	target := targetURL(o)
	out := make([]*network.CookieParam, 0, len(o.Page.Cookies))
	for _, c := range o.Page.Cookies {
		cp := &network.CookieParam{Name: c.Name, Value: c.Value, Path: c.Path, Secure: c.Secure, HTTPOnly: c.HTTPOnly,
			SameSite: network.CookieSameSite(c.SameSite), Expires: cdp.TimeSinceEpoch(c.Expires)}
		if c.Domain != "" {
			cp.Domain = c.Domain
			scheme := "http://"
			if c.Secure {
				scheme = "https://"
			}
			cp.URL = scheme + strings.TrimPrefix(c.Domain, ".") + "/"
		} else {
			cp.URL = target
		}
		if cp.Path == "" {
			cp.Path = "/"
		}
		out = append(out, cp)
	}
	return out
}

// hostOf is the lower-case host of a URL, or "".
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// scrollPageJS scrolls down a screen at a time, pausing between steps so
// that IntersectionObserver callbacks and loading=lazy images start, until
// the bottom (which lazy content may push further) or budget ms: a page of
// any length costs a bounded time.
const scrollPageJS = `async (budget, pause) => {
	const t0 = performance.now();
	const height = () => Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);
	for (let y = 0; y + innerHeight < height() && performance.now() - t0 < budget; ) {
		y += Math.max(100, innerHeight);
		window.scrollTo(0, y);
		await new Promise(r => requestAnimationFrame(() => setTimeout(r, pause)));
	}
}`

// Scrolling's bounds: a step every 50 ms (a few frames), for at most 5 s
// (or wait_for_timeout).
const (
	scrollBudget = 5 * time.Second
	scrollPause  = 50
)

// scrollPage scrolls through the page, waits for what that loaded (network
// quiet, bounded by wait_for_timeout), and returns to the top.
func scrollPage(ctx context.Context, w *watch, o *options.Options) error {
	budget := min(scrollBudget, o.WaitForTimeout)
	if err := bounded(ctx, budget+time.Second, "scroll_page did not finish within wait_for_timeout", func(ctx context.Context) error {
		_, err := callJS[chromedp.Void](ctx, scrollPageJS, budget.Milliseconds(), scrollPause)
		return err
	}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, o.WaitForTimeout)
	_ = w.idle(wctx, idleLimit(o.WaitForNetwork)) // best effort, like the wait after load
	cancel()
	return bounded(ctx, time.Second, "scroll_page could not return to the top", func(ctx context.Context) error {
		_, err := callJS[chromedp.Void](ctx, scrollJS, 0, 0)
		return err
	})
}
