package capture

import (
	"context"
	"fmt"
	"strconv"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// freezeJS runs in the page's world of every frame before its own scripts
// (deterministic): the clock stands at the frozen instant (timers still
// fire, so the page loads), performance.now and the animation frames' time
// stand with it, Math.random is a seeded generator (mulberry32), and media
// never starts by script.
const freezeJS = `(() => {
	const T = %d, RealDate = Date;
	function FrozenDate(...a) {
		if (!new.target) return new RealDate(T).toString();
		return a.length ? new RealDate(...a) : new RealDate(T);
	}
	FrozenDate.prototype = RealDate.prototype;
	FrozenDate.now = () => T;
	FrozenDate.parse = RealDate.parse;
	FrozenDate.UTC = RealDate.UTC;
	Object.defineProperty(FrozenDate, "name", { value: "Date" });
	globalThis.Date = FrozenDate;
	const perf = Object.getPrototypeOf(performance);
	Object.defineProperty(perf, "now", { value: () => 0, configurable: true });
	const raf = globalThis.requestAnimationFrame;
	if (raf) globalThis.requestAnimationFrame = (cb) => raf.call(globalThis, () => cb(0));
	let s = 0x2545F491;
	Math.random = () => {
		s = (s + 0x6D2B79F5) | 0;
		let t = Math.imul(s ^ (s >>> 15), 1 | s);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	if (globalThis.HTMLMediaElement) HTMLMediaElement.prototype.play = function () { return Promise.resolve(); };
})()`

// settleJS runs in the isolated world just before the capture
// (deterministic), where the page's script cannot redefine what it calls:
// the caret and scrollbars hidden and smooth scrolling off, every
// animation and transition finished at its end state (an infinite one
// reset to its start, as Playwright's animations: "disabled" does), SVG
// animations at 0, videos paused at their first frame, web fonts loaded,
// then two frames for the browser to paint it.
const settleJS = `async () => {
	const sheet = new CSSStyleSheet();
	sheet.replaceSync("*,*::before,*::after{caret-color:transparent!important;scroll-behavior:auto!important}" +
		"html,body{scrollbar-width:none!important}::-webkit-scrollbar{display:none!important}");
	document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
	const wait = (p, ms) => Promise.race([p, new Promise((r) => setTimeout(r, ms))]);
	for (const a of document.getAnimations({ subtree: true })) {
		try {
			const t = a.effect && a.effect.getComputedTiming();
			if (t && t.endTime === Infinity) a.cancel(); else a.finish();
		} catch (e) { a.cancel(); }
	}
	for (const svg of document.querySelectorAll("svg")) {
		try { svg.pauseAnimations(); svg.setCurrentTime(0); } catch (e) {}
	}
	for (const v of document.querySelectorAll("video, audio")) {
		v.pause();
		v.removeAttribute("autoplay");
		if (v.currentTime !== 0) {
			const seeked = new Promise((r) => v.addEventListener("seeked", r, { once: true }));
			v.currentTime = 0;
			await wait(seeked, 1000);
		}
	}
	if (document.fonts) await wait(document.fonts.ready, 3000);
	await wait(new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))), 500);
}`

// maskJS paints a box over each element a selector matches, in a closed
// shadow root on the document element, above everything, at the element's
// place in the document: a full-page or clip capture shows it where the
// element is. Returns the index of a selector the browser refuses, or -1.
const maskJS = `(sels, color) => {
	const host = document.createElement("pixashot-mask");
	host.style.cssText = "all:initial;position:absolute;left:0;top:0;width:0;height:0;overflow:visible;z-index:2147483647;pointer-events:none";
	const root = host.attachShadow({ mode: "closed" });
	for (let i = 0; i < sels.length; i++) {
		let els;
		try { els = document.querySelectorAll(sels[i]); } catch (e) { return i; }
		for (const el of els) {
			const r = el.getBoundingClientRect();
			if (r.width <= 0 || r.height <= 0) continue;
			const box = document.createElement("div");
			box.style.cssText = "position:absolute;left:" + (r.left + scrollX) + "px;top:" + (r.top + scrollY) + "px;width:" +
				r.width + "px;height:" + r.height + "px;background:" + color;
			root.appendChild(box);
		}
	}
	document.documentElement.appendChild(host);
	return -1;
}`

// deterministicSetup is what a deterministic capture sets before the
// navigation: the frozen clock and random numbers, no scrollbars.
func deterministicSetup(o *options.Options) []chromedp.Action[chromedp.Void] {
	if !o.Page.Deterministic {
		return nil
	}
	return []chromedp.Action[chromedp.Void]{
		call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: fmt.Sprintf(freezeJS, o.Page.FreezeTime.UnixMilli())}),
		call(emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true}),
	}
}

// settle stills the page (deterministic) and paints the masks, just before
// the capture.
func settle(ctx context.Context, o *options.Options) error {
	if o.Page.Deterministic {
		if err := bounded(ctx, o.WaitForTimeout, "the page did not settle within wait_for_timeout", func(ctx context.Context) error {
			_, err := callJS[chromedp.Void](ctx, settleJS)
			return err
		}); err != nil {
			return err
		}
	}
	if len(o.Page.Mask) == 0 {
		return nil
	}
	c := o.Page.MaskColor
	color := fmt.Sprintf("rgba(%d,%d,%d,%s)", c.R, c.G, c.B, strconv.FormatFloat(c.A, 'f', 3, 64))
	bad, err := callJS[int](ctx, maskJS, o.Page.Mask, color)
	if err != nil {
		return err
	}
	if bad >= 0 {
		return invalid("mask["+strconv.Itoa(bad)+"]", "is not a valid CSS selector")
	}
	return nil
}
