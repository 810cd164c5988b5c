package e2e

import (
	"fmt"
	"html"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
)

// cleanPages are the fixtures of the page options: each takes ?t=<token>
// and names its subresources /clean/hit/<token>/<name>, so a test counts
// what the server saw of its own capture.
func (e *env) cleanPages(mux *http.ServeMux) {
	port := strconv.Itoa(e.port)
	serve := func(path string, body func(t string) string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			e.hit(path, r.Header)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body(html.EscapeString(r.URL.Query().Get("t"))))
		})
	}
	mux.HandleFunc("/clean/hit/", func(w http.ResponseWriter, r *http.Request) {
		e.hit(r.URL.Path, r.Header)
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Write(onePixelPNG)
	})
	// An ad-heavy page: an EasyList third-party host, an EasyList path rule,
	// a generic element-hiding class, an EasyPrivacy host (||00px.net^) and
	// a chat widget's loader (tawk.to) with a container (Intercom's). Hosts
	// on Chrome's HSTS preload list would be upgraded to https and never
	// reach the plain-http fixture server.
	serve("/clean/ads", func(t string) string {
		return `<html><body style="margin:0;background:#ffffff">
		<div class="ADBAR" style="height:200px;background:#ff0000">ad</div>
		<img src="http://2leep.com:` + port + `/clean/hit/` + t + `/thirdparty.png" width="1" height="1">
		<img src="/clean/hit/` + t + `/adsbanner-1.png" width="1" height="1">
		<script src="http://00px.net:` + port + `/clean/hit/` + t + `/analytics.js"></script>
		<script src="http://embed.tawk.to:` + port + `/clean/hit/` + t + `/widget.js"></script>
		<script src="/clean/hit/` + t + `/app.js"></script>
		<div id="intercom-container" style="position:fixed;right:0;bottom:0;width:200px;height:200px;background:#0000ff"></div>
		</body></html>`
	})
	// Consent dialogs with the markup of two CMPs in DuckDuckGo's rule set
	// (WP Cookie Notice for GDPR, CookieYes), whose reject buttons report
	// to the server, and a home-made notice no rule knows.
	serve("/clean/cmp/wp", func(t string) string {
		return `<html><body style="margin:0;background:#ffffff"><p>Article</p>
		<div id="gdpr-cookie-consent-bar" style="position:fixed;left:0;top:0;width:100%;height:400px;background:#ff0000">
		We use cookies. <a id="cookie_action_accept" href="#">Accept</a>
		<a id="cookie_action_reject" href="#" onclick="fetch('/clean/hit/` + t + `/reject'); document.getElementById('gdpr-cookie-consent-bar').style.display='none'; return false">Reject</a>
		</div></body></html>`
	})
	serve("/clean/cmp/cky", func(t string) string {
		return `<html><body style="margin:0;background:#ffffff"><p>Article</p>
		<div class="cky-consent-container" style="position:fixed;left:0;top:0;width:100%;height:400px;background:#ff0000">
		<p>We value your privacy: we use cookies.</p>
		<button data-cky-tag="accept-button">Accept All</button>
		<button data-cky-tag="reject-button" onclick="fetch('/clean/hit/` + t + `/reject'); this.parentNode.style.display='none'">Reject All</button>
		</div></body></html>`
	})
	serve("/clean/cmp/own", func(t string) string {
		return `<html><body style="margin:0;background:#ffffff;overflow:hidden"><p>Article</p>
		<div style="position:fixed;left:0;top:0;width:100%;height:400px;background:#ff0000">
		This site uses cookies to give you the best experience. <span>Got it</span></div></body></html>`
	})
	// A long page whose content loads as it scrolls into view: an image with
	// loading=lazy and a block an IntersectionObserver fills.
	serve("/clean/lazy", func(t string) string {
		return `<html><body style="margin:0;background:#ffffff">
		<div style="height:5000px"></div>
		<div id="io" style="height:200px;background:#ff0000"></div>
		<img loading="lazy" src="/clean/hit/` + t + `/lazy.png" width="100" height="100">
		<script>new IntersectionObserver((es, o) => { for (const e of es) if (e.isIntersecting) {
			e.target.style.background = "#00ff00"; fetch("/clean/hit/` + t + `/io"); o.disconnect(); } }).observe(document.getElementById("io"));</script>
		</body></html>`
	})
	serve("/clean/intl", func(t string) string {
		return `<html><body><p id="tz"></p><script>document.getElementById("tz").textContent =
		"tz=" + Intl.DateTimeFormat().resolvedOptions().timeZone + " lang=" + navigator.language + " date=" + new Date(0).toString();</script></body></html>`
	})
	serve("/clean/hide", func(t string) string {
		return `<html><body style="margin:0;background:#ffffff"><div class="promo" style="height:300px;background:#ff0000"></div></body></html>`
	})
	mux.HandleFunc("/clean/status/", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/clean/status/"))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		fmt.Fprintf(w, "<html><body>status %d</body></html>", code)
	})
}

// onePixelPNG is a 1×1 transparent PNG.
var onePixelPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func (e *env) cleanHits(t, name string) int { return e.hitCount("/clean/hit/" + t + "/" + name) }

// Each block option: the request it names never arrives with the option on,
// and arrives with it off; hidden elements are gone by pixels.
func TestBlockLists(t *testing.T) {
	e := shared
	off := randomHex(6)
	img := e.mustImage(t, map[string]any{"url": e.page + "/clean/ads?t=" + off, "window_width": 800, "window_height": 600})
	for _, name := range []string{"thirdparty.png", "adsbanner-1.png", "analytics.js", "widget.js", "app.js"} {
		if e.cleanHits(off, name) != 1 {
			t.Errorf("options off: %s requested %d times, want 1", name, e.cleanHits(off, name))
		}
	}
	if !near(rgb(img, 100, 100), 255, 0, 0) || !near(rgb(img, 700, 500), 0, 0, 255) {
		t.Fatalf("options off: the ad and the widget should show: %v %v", rgb(img, 100, 100), rgb(img, 700, 500))
	}

	ads := randomHex(6)
	img = e.mustImage(t, map[string]any{"url": e.page + "/clean/ads?t=" + ads, "window_width": 800, "window_height": 600, "block_ads": true})
	for name, want := range map[string]int{"thirdparty.png": 0, "adsbanner-1.png": 0, "analytics.js": 1, "widget.js": 1, "app.js": 1} {
		if got := e.cleanHits(ads, name); got != want {
			t.Errorf("block_ads: %s requested %d times, want %d", name, got, want)
		}
	}
	if !near(rgb(img, 100, 100), 255, 255, 255) {
		t.Errorf("block_ads: the .ADBAR element (EasyList ##.ADBAR) is not hidden: %v", rgb(img, 100, 100))
	}

	all := randomHex(6)
	img = e.mustImage(t, map[string]any{"url": e.page + "/clean/ads?t=" + all, "window_width": 800, "window_height": 600,
		"block_trackers": true, "block_chats": true})
	for name, want := range map[string]int{"thirdparty.png": 1, "analytics.js": 0, "widget.js": 0, "app.js": 1} {
		if got := e.cleanHits(all, name); got != want {
			t.Errorf("block_trackers+block_chats: %s requested %d times, want %d", name, got, want)
		}
	}
	if !near(rgb(img, 700, 500), 255, 255, 255) {
		t.Errorf("block_chats: the widget's container is not hidden: %v", rgb(img, 700, 500))
	}
}

func TestCookieBanners(t *testing.T) {
	e := shared
	for _, page := range []string{"wp", "cky", "own"} {
		t.Run(page, func(t *testing.T) {
			off := randomHex(6)
			img := e.mustImage(t, map[string]any{"url": e.page + "/clean/cmp/" + page + "?t=" + off, "window_width": 800, "window_height": 600})
			if !near(rgb(img, 400, 300), 255, 0, 0) {
				t.Fatalf("off: the dialog should show: %v", rgb(img, 400, 300))
			}
			on := randomHex(6)
			img = e.mustImage(t, map[string]any{"url": e.page + "/clean/cmp/" + page + "?t=" + on, "window_width": 800, "window_height": 600,
				"block_cookie_banners": true})
			if !near(rgb(img, 400, 300), 255, 255, 255) {
				t.Errorf("on: the dialog is still there: %v", rgb(img, 400, 300))
			}
			if page != "own" && e.cleanHits(on, "reject") != 1 {
				t.Errorf("on: the dialog was not answered with reject (%d reject requests)", e.cleanHits(on, "reject"))
			}
			if e.cleanHits(off, "reject") != 0 {
				t.Error("off: something clicked reject")
			}
		})
	}
}

func TestScrollPageLoadsLazyContent(t *testing.T) {
	e := shared
	plain := randomHex(6)
	e.mustImage(t, map[string]any{"url": e.page + "/clean/lazy?t=" + plain, "window_width": 800, "window_height": 600})
	if e.cleanHits(plain, "io") != 0 || e.cleanHits(plain, "lazy.png") != 0 {
		t.Fatal("without scrolling, the lazy content loaded anyway: the fixture proves nothing")
	}
	full := randomHex(6)
	img := e.mustImage(t, map[string]any{"url": e.page + "/clean/lazy?t=" + full, "window_width": 800, "window_height": 600, "full_page": true})
	if e.cleanHits(full, "io") != 1 || e.cleanHits(full, "lazy.png") != 1 {
		t.Fatalf("full_page (scroll_page by default): io %d, lazy %d requests", e.cleanHits(full, "io"), e.cleanHits(full, "lazy.png"))
	}
	if !near(rgb(img, 100, 5100), 0, 255, 0) {
		t.Errorf("the IntersectionObserver block is not filled: %v", rgb(img, 100, 5100))
	}
	if !near(rgb(img, 10, 10), 255, 255, 255) || img.Bounds().Dy() < 5300 {
		t.Errorf("the capture does not start at the top of the whole page: %v, %d px", rgb(img, 10, 10), img.Bounds().Dy())
	}
}

func TestTimezoneLocaleAndCookies(t *testing.T) {
	e := shared
	r := e.capture(t, map[string]any{"url": e.page + "/clean/intl", "format": "html", "timezone": "Asia/Tokyo", "locale": "de-CH",
		"cookies": []map[string]any{{"name": "session", "value": "abc123"}, {"name": "elsewhere", "value": "x", "domain": "other.test"}}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), "tz=Asia/Tokyo lang=de-CH") || !strings.Contains(string(r.body), "GMT+0900") {
		t.Errorf("the page read: %s", r.body)
	}
	h := e.lastHeaders("/clean/intl")
	if !strings.HasPrefix(h.Get("Accept-Language"), "de-CH") {
		t.Errorf("Accept-Language %q", h.Get("Accept-Language"))
	}
	if c := h.Get("Cookie"); c != "session=abc123" {
		t.Errorf("the server got Cookie %q, want only the target's cookie", c)
	}
	if r := e.capture(t, map[string]any{"url": e.page + "/clean/intl", "timezone": "Mars/Olympus"}); r.status != 400 || r.errorJSON(t)["field"] != "timezone" {
		t.Errorf("a bad timezone: %d %s", r.status, r.body)
	}
}

func TestStylesAndClip(t *testing.T) {
	e := shared
	img := e.mustImage(t, map[string]any{"url": e.page + "/clean/hide", "window_width": 400, "window_height": 400, "hide_selectors": []string{".promo"}})
	if !near(rgb(img, 100, 100), 255, 255, 255) {
		t.Errorf("hide_selectors: %v", rgb(img, 100, 100))
	}
	img = e.mustImage(t, map[string]any{"url": e.page + "/clean/hide", "window_width": 400, "window_height": 400, "custom_css": ".promo{background:#00ff00 !important}"})
	if !near(rgb(img, 100, 100), 0, 255, 0) {
		t.Errorf("custom_css: %v", rgb(img, 100, 100))
	}
	img = e.mustImage(t, map[string]any{"url": e.page + "/element", "window_width": 400, "window_height": 400,
		"clip": map[string]any{"x": 50, "y": 1500, "width": 200, "height": 100}})
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 100 || !near(rgb(img, 100, 50), 0, 255, 0) {
		t.Errorf("clip: %v, %v", b, rgb(img, 100, 50))
	}
	if r := e.capture(t, map[string]any{"url": e.page + "/element", "clip": map[string]any{"x": 0, "y": 90000, "width": 10, "height": 10}}); r.status != 400 || r.errorJSON(t)["field"] != "clip" {
		t.Errorf("a clip outside the page: %d %s", r.status, r.body)
	}
}

// custom_css and hide_selectors load under the page's egress policy: a
// stylesheet that points at the secret server reaches nothing.
func TestCustomCSSReachesNothingThePageCannot(t *testing.T) {
	e := shared
	before := e.secretHits.Load()
	port := strconv.Itoa(e.port)
	css := `@import url("http://127.0.0.1:` + port + `/import.css");
	body{background-image:url("http://127.0.0.1:` + port + `/bg.png")}
	p{background-image:url("http://secret.test:` + port + `/bg2.png")}
	div{background-image:url("http://169.254.169.254/computeMetadata/v1/")}`
	r := e.capture(t, map[string]any{"url": e.page + "/clean/hide", "custom_css": css, "hide_selectors": []string{`div[style*="x"]`}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := e.secretHits.Load() - before; n != 0 {
		t.Fatalf("custom_css reached the secret server %d times", n)
	}
}

func TestTargetStatus(t *testing.T) {
	e := shared
	r := e.capture(t, map[string]any{"url": e.page + "/clean/status/404", "fail_on_http_status": "404,500-599"})
	if m := r.errorJSON(t); r.status != 502 || m["error_type"] != "TargetStatusError" || m["target_status"] != 404.0 {
		t.Fatalf("fail_on_http_status: %d %s", r.status, r.body)
	}
	r = e.capture(t, map[string]any{"url": e.page + "/clean/status/404"})
	if r.status != 200 || r.header.Get("X-Target-Status") != "404" || r.header.Get("X-Target-Final-Url") != "" {
		t.Fatalf("without the option: %d, X-Target-Status %q, final %q", r.status, r.header.Get("X-Target-Status"), r.header.Get("X-Target-Final-Url"))
	}
	r = e.capture(t, map[string]any{"url": e.page + "/redirect?to=/color%3Fc%3D00ff00", "fail_on_http_status": "300-399"})
	if r.status != 200 || r.header.Get("X-Target-Status") != "200" || r.header.Get("X-Target-Final-Url") != e.page+"/color?c=00ff00" {
		t.Fatalf("a redirect: %d, X-Target-Status %q, final %q", r.status, r.header.Get("X-Target-Status"), r.header.Get("X-Target-Final-Url"))
	}
	if r := e.capture(t, map[string]any{"html_content": "<p>x</p>"}); r.header.Get("X-Target-Status") != "" {
		t.Errorf("html_content has no target status: %q", r.header.Get("X-Target-Status"))
	}
}

// A deployment without the lists refuses block_ads by name, and says so in
// its log at start: never a silent no-op.
func TestBlockListsMissing(t *testing.T) {
	empty := t.TempDir()
	e, err := newEnv(func(c *config.Config) { c.BlocklistDir = empty; c.AutoconsentDir = empty })
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	for field, opts := range map[string]map[string]any{
		"block_ads":            {"block_ads": true},
		"block_trackers":       {"block_trackers": true},
		"block_cookie_banners": {"block_cookie_banners": true},
	} {
		opts["url"] = e.page + "/color?c=00ff00"
		r := e.capture(t, opts)
		if m := r.errorJSON(t); r.status != 501 || m["error_type"] != "FeatureUnavailable" || !strings.Contains(m["message"].(string), field) {
			t.Errorf("%s without its data: %d %s", field, r.status, r.body)
		}
	}
	if r := e.capture(t, map[string]any{"url": e.page + "/color?c=00ff00", "block_chats": true}); r.status != 200 {
		t.Errorf("block_chats needs no list: %d %s", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), `"event":"asset_missing"`) {
		t.Error("no asset_missing event in the log")
	}
	_ = os.Remove(empty)
}
