package capture

import (
	"context"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/blocklist"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// blocker refuses the requests of a page that block_ads, block_trackers and
// block_chats name. It runs in the tab's own interception, after the egress
// guard's scheme checks and before the guard sees a byte: it can only
// remove requests, never allow one.
type blocker struct {
	lists *blocklist.Lists // nil unless ads or trackers are blocked
	cats  blocklist.Category
	chats bool
	page  func() string // the top document's URL, the source of every request
}

func categories(p *options.Page) blocklist.Category {
	var c blocklist.Category
	if p.BlockAds {
		c |= blocklist.Ads
	}
	if p.BlockTrackers {
		c |= blocklist.Trackers
	}
	return c
}

// listField names the option that asked for the lists, for its error.
func listField(p *options.Page) string {
	if p.BlockAds {
		return "block_ads"
	}
	return "block_trackers"
}

// newBlocker returns nil when the request blocks nothing.
func (e *Engine) newBlocker(ctx context.Context, o *options.Options, page func() string) (*blocker, error) {
	if !o.Page.Blocking() {
		return nil, nil
	}
	b := &blocker{cats: categories(&o.Page), chats: o.Page.BlockChats, page: page}
	if b.cats != 0 {
		var err error
		if b.lists, err = e.Assets.lists(ctx, listField(&o.Page)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// blocks decides one request; typ is Chrome's resource type, SubFrame for a
// frame's document. The main document is never blocked: the client asked
// for it.
func (b *blocker) blocks(target, typ string) bool {
	if b.chats && blocklist.ChatHost(hostOf(target)) {
		return true
	}
	return b.lists != nil && b.lists.Blocked(b.cats, target, b.page(), typ)
}

// hiddenCSS is the page's hiding stylesheet: the element-hiding rules of
// the lists the blocker uses, for the page's host, the chat widgets'
// containers and hide_selectors. One rule per selector, so a selector this
// browser cannot parse drops only itself.
func hiddenCSS(blk *blocker, hide []string, host string) string {
	var sels []string
	if blk != nil && blk.lists != nil {
		sels = append(sels, blk.lists.Hidden(blk.cats, host)...)
	}
	if blk != nil && blk.chats {
		sels = append(sels, blocklist.ChatSelectors...)
	}
	sels = append(sels, hide...)
	var b strings.Builder
	for _, s := range sels {
		b.WriteString(s)
		b.WriteString("{display:none!important}\n")
	}
	return b.String()
}

// adoptCSSJS adds a constructed stylesheet to the document: not subject to
// the page's style-src, and, being constructed, it cannot @import (the
// browser drops the rule); url() values load as the page's own requests,
// through the same interception and egress guard.
const adoptCSSJS = `(css) => {
	const sheet = new CSSStyleSheet();
	sheet.replaceSync(css);
	document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}`

// restyle applies the hiding rules and custom_css.
func restyle(ctx context.Context, w *watch, o *options.Options, blk *blocker) error {
	_, page := w.document()
	hidden := hiddenCSS(blk, o.Page.HideSelectors, hostOf(page))
	for _, css := range []string{hidden, o.Page.CustomCSS} {
		if css == "" {
			continue
		}
		if err := bounded(ctx, o.WaitForTimeout, "the page did not take its styles within wait_for_timeout", func(ctx context.Context) error {
			_, err := callJS[chromedp.Void](ctx, adoptCSSJS, css)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// noticeJS hides what no consent rule knew: a fixed or sticky element
// (or its fixed ancestor) that talks about cookies or consent, as a
// person would close it, and gives the page back its scrolling if a hidden
// wall had locked it. Returns how many it hid.
const noticeJS = `() => {
	const words = /\b(cookies?|consent|gdpr|tracking technologies|datenschutz|privacidad|confidentialit)/i;
	let hidden = 0;
	for (const el of document.querySelectorAll("body *")) {
		const pos = getComputedStyle(el).position;
		if (pos !== "fixed" && pos !== "sticky") continue;
		const text = el.innerText || "";
		if (text.length > 3000 || !words.test(text)) continue;
		el.style.setProperty("display", "none", "important");
		hidden++;
	}
	if (hidden) {
		for (const el of [document.documentElement, document.body]) {
			if (el && getComputedStyle(el).overflow === "hidden") el.style.setProperty("overflow", "visible", "important");
		}
	}
	return hidden;
}`

func hideNotices(ctx context.Context) error {
	return bounded(ctx, 2*time.Second, "the page did not let its notices be hidden", func(ctx context.Context) error {
		_, err := callJS[int](ctx, noticeJS)
		return err
	})
}
