package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type opts = map[string]any

func TestFormatsViewportAndColours(t *testing.T) {
	e := shared
	for _, format := range []string{"png", "jpeg", "webp"} {
		r := e.capture(t, opts{"url": e.page + "/color?c=ff0000", "format": format, "window_width": 320, "window_height": 240, "image_quality": 80})
		if r.status != 200 {
			t.Fatalf("%s: %d %s", format, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "image/"+format {
			t.Errorf("%s: Content-Type %q", format, ct)
		}
		if cd := r.header.Get("Content-Disposition"); cd != "attachment; filename=screenshot."+format {
			t.Errorf("%s: Content-Disposition %q", format, cd)
		}
		img, got, err := image.Decode(bytes.NewReader(r.body))
		if err != nil || got != format {
			t.Fatalf("%s: decoded as %q: %v", format, got, err)
		}
		if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
			t.Errorf("%s: size %v, want 320x240", format, b)
		}
		if c := rgb(img, 160, 120); !near(c, 255, 0, 0) {
			t.Errorf("%s: centre colour %v, want red", format, c)
		}
	}
}

func TestPixelDensityDoublesPixels(t *testing.T) {
	img := shared.mustImage(t, opts{"url": shared.page + "/color?c=00ff00", "window_width": 300, "window_height": 200, "pixel_density": 2})
	if b := img.Bounds(); b.Dx() != 600 || b.Dy() != 400 {
		t.Fatalf("size %v, want 600x400", b)
	}
}

func TestFullPageTallerThanTextureLimit(t *testing.T) {
	img := shared.mustImage(t, opts{"url": shared.page + "/tall", "window_width": 400, "window_height": 300, "full_page": true})
	if b := img.Bounds(); b.Dx() != 400 || b.Dy() != 20000 {
		t.Fatalf("size %v, want 400x20000", b)
	}
	for _, p := range []struct {
		y       int
		r, g, b uint8
	}{{100, 255, 0, 0}, {9990, 255, 0, 0}, {10010, 0, 0, 255}, {16500, 0, 0, 255}, {19990, 0, 0, 255}} {
		if c := rgb(img, 200, p.y); !near(c, p.r, p.g, p.b) {
			t.Errorf("y=%d: %v", p.y, c)
		}
	}
}

func TestSelectorCropsToTheElement(t *testing.T) {
	img := shared.mustImage(t, opts{"url": shared.page + "/element", "window_width": 800, "window_height": 600, "selector": "#box"})
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 100 {
		t.Fatalf("size %v, want the 200x100 element", b)
	}
	if c := rgb(img, 100, 50); !near(c, 0, 255, 0) {
		t.Errorf("colour %v, want green", c)
	}
	r := shared.capture(t, opts{"url": shared.page + "/element", "selector": "#nothing"})
	if r.status != 400 || r.errorJSON(t)["field"] != "selector" {
		t.Errorf("missing element: %d %s", r.status, r.body)
	}
}

func TestTransparentBackground(t *testing.T) {
	img := shared.mustImage(t, opts{"html_content": "<p style='margin:0'>x</p>", "window_width": 100, "window_height": 100, "omit_background": true})
	if c := rgb(img, 90, 90); c[3] != 0 {
		t.Errorf("corner %v, want transparent", c)
	}
	img = shared.mustImage(t, opts{"html_content": "<p style='margin:0'>x</p>", "window_width": 100, "window_height": 100})
	if c := rgb(img, 90, 90); c != [4]uint8{255, 255, 255, 255} {
		t.Errorf("corner %v, want opaque white", c)
	}
}

func TestHTMLFormatHasWhatScriptsBuilt(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/script", "format": "html"})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
	}
	if !bytes.Contains(r.body, []byte("built by script")) || !bytes.HasPrefix(r.body, []byte("<!DOCTYPE html>")) && !bytes.HasPrefix(r.body, []byte("<html")) {
		t.Errorf("html: %s", r.body)
	}
}

func TestHTMLContentRunsOnItsOwnOrigin(t *testing.T) {
	r := shared.capture(t, opts{"format": "html", "html_content": `<p id=o></p><script>
		document.getElementById('o').textContent = location.protocol + '//' + location.host + ' secure=' + window.isSecureContext;
	</script><iframe src="file:///etc/passwd"></iframe>`})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !bytes.Contains(r.body, []byte("https://render.pixashot.invalid secure=true")) {
		t.Errorf("html_content did not run on the service's https origin: %s", r.body)
	}
	if bytes.Contains(r.body, []byte("root:")) {
		t.Error("a file:// iframe was read")
	}
}

func pdfPages(b []byte) int {
	return len(regexp.MustCompile(`/Type\s*/Page[^s]`).FindAll(b, -1))
}

func TestPDF(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/pages", "format": "pdf"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(r.body, []byte("%PDF-")) {
		t.Fatalf("%d %s %.20q", r.status, r.header.Get("Content-Type"), r.body)
	}
	if n := pdfPages(r.body); n != 3 {
		t.Errorf("%d pages, want 3", n)
	}
	// A4 portrait is 595x842 points; landscape Letter 792x612.
	if !regexp.MustCompile(`/MediaBox \[0 0 595\.\d* 841\.\d*\]|/MediaBox \[0 0 595\.\d* 842\.\d*\]`).Match(r.body) {
		t.Errorf("not A4: %s", regexp.MustCompile(`/MediaBox \[[^\]]*\]`).Find(r.body))
	}
	r = shared.capture(t, opts{"url": shared.page + "/pages", "format": "pdf", "pdf_format": "Letter", "pdf_landscape": true, "pdf_page_ranges": "2-3"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := pdfPages(r.body); n != 2 {
		t.Errorf("page range 2-3 gave %d pages", n)
	}
	if !regexp.MustCompile(`/MediaBox \[0 0 792 612\]`).Match(r.body) {
		t.Errorf("not Letter landscape: %s", regexp.MustCompile(`/MediaBox \[[^\]]*\]`).Find(r.body))
	}
	r = shared.capture(t, opts{"url": shared.page + "/pages", "format": "pdf", "pdf_page_ranges": "9-10"})
	if r.status != 400 || r.errorJSON(t)["field"] != "pdf_page_ranges" {
		t.Errorf("out-of-range pages: %d %s", r.status, r.body)
	}
}

func TestWaitForSelectorFindsTheDelayedElement(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/delayed", "format": "html", "wait_for_selector": "#late"})
	if r.status != 200 || !bytes.Contains(r.body, []byte("arrived")) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = shared.capture(t, opts{"url": shared.page + "/delayed", "wait_for_selector": "#never", "wait_for_timeout": 1500})
	if r.status != 504 || r.errorJSON(t)["error_type"] != "CaptureTimeout" {
		t.Errorf("selector that never appears: %d %s", r.status, r.body)
	}
	r = shared.capture(t, opts{"url": shared.page + "/delayed", "wait_for_selector": "##bad(("})
	if r.status != 400 || r.errorJSON(t)["field"] != "wait_for_selector" {
		t.Errorf("invalid selector: %d %s", r.status, r.body)
	}
}

func TestDarkModeFlipsTheColourScheme(t *testing.T) {
	light := shared.mustImage(t, opts{"url": shared.page + "/dark", "window_width": 100, "window_height": 100})
	dark := shared.mustImage(t, opts{"url": shared.page + "/dark", "window_width": 100, "window_height": 100, "dark_mode": true})
	if c := rgb(light, 50, 50); c != [4]uint8{255, 255, 255, 255} {
		t.Errorf("light: %v", c)
	}
	if c := rgb(dark, 50, 50); c != [4]uint8{0, 0, 0, 255} {
		t.Errorf("dark: %v", c)
	}
}

func TestBlockMediaNeverReachesTheServer(t *testing.T) {
	before := shared.hitCount("/asset/image.png") + shared.hitCount("/asset/video.mp4")
	r := shared.capture(t, opts{"url": shared.page + "/media", "format": "html", "block_media": true})
	if r.status != 200 || !bytes.Contains(r.body, []byte(`id="ok"`)) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := shared.hitCount("/asset/image.png") + shared.hitCount("/asset/video.mp4") - before; n != 0 {
		t.Fatalf("%d media requests reached the server", n)
	}
	// Without the option the image does load: the test can tell.
	shared.capture(t, opts{"url": shared.page + "/media", "format": "html"})
	if shared.hitCount("/asset/image.png") == 0 {
		t.Fatal("the image never loads, so block_media proved nothing")
	}
}

func TestCustomHeadersReachTheTargetOriginOnly(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/headers", "format": "html", "custom_headers": map[string]string{"X-Test-Token": "abc123"}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := shared.lastHeaders("/headers").Get("X-Test-Token"); got != "abc123" {
		t.Errorf("target got X-Test-Token %q", got)
	}
	if shared.hitCount("/third-party.js") == 0 {
		t.Fatal("the third-party script was never requested")
	}
	if got := shared.lastHeaders("/third-party.js").Get("X-Test-Token"); got != "" {
		t.Errorf("a third-party origin got the custom header %q", got)
	}
	r = shared.capture(t, opts{"url": shared.page + "/headers", "custom_headers": map[string]string{"Metadata-Flavor": "Google"}})
	if r.status != 400 || r.errorJSON(t)["field"] != "custom_headers" {
		t.Errorf("metadata header: %d %s", r.status, r.body)
	}
}

func TestUserAgent(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/ua", "format": "html", "user_agent": "PixashotTest/1.0"})
	if !bytes.Contains(r.body, []byte("PixashotTest/1.0")) {
		t.Errorf("custom user agent not sent: %s", r.body)
	}
	r = shared.capture(t, opts{"url": shared.page + "/ua", "format": "html", "use_random_user_agent": true,
		"user_agent_device": "mobile", "user_agent_platform": "android", "user_agent_browser": "firefox"})
	if !regexp.MustCompile(`Android.*Mobile.*Firefox/\d+`).Match(r.body) {
		t.Errorf("random mobile Firefox on Android: %s", r.body)
	}
}

func TestInteractions(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/interact", "format": "html", "interactions": []opts{
		{"action": "click", "selector": "#b"},
		{"action": "type", "selector": "#in", "text": "typed words"},
		{"action": "hover", "selector": "#hov"},
		{"action": "wait_for", "wait_for": opts{"type": "timeout", "value": 50}},
		{"action": "scroll", "x": 0, "y": 1200},
		{"action": "wait_for", "wait_for": opts{"type": "selector", "value": "#bottom"}},
	}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, want := range []string{`background: rgb(0, 0, 255)`, `typed words`, `data-hovered="yes"`, `data-scrolled="1200"`} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("interactions left no %q in %s", want, r.body)
		}
	}
	r = shared.capture(t, opts{"url": shared.page + "/interact", "wait_for_timeout": 1000, "interactions": []opts{{"action": "click", "selector": "#missing"}}})
	if r.status != 504 {
		t.Errorf("click on a missing element: %d %s", r.status, r.body)
	}
}

func TestGeolocationIsWhatThePageReads(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/geo", "format": "html", "geolocation": opts{"latitude": 48.8584, "longitude": 2.2945, "accuracy": 10},
		"interactions": []opts{{"action": "wait_for", "wait_for": opts{"type": "selector", "value": "#out:not(:empty)"}}}, "delay_capture": 200})
	if !bytes.Contains(r.body, []byte("lat=48.8584 lon=2.2945")) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestWaitForAnimation(t *testing.T) {
	img := shared.mustImage(t, opts{"url": shared.page + "/anim", "window_width": 100, "window_height": 100, "wait_for_animation": true, "wait_for_network": "mostly_idle"})
	if c := rgb(img, 50, 50); !near(c, 0, 255, 0) {
		t.Errorf("after the animation: %v, want its green end state", c)
	}
}

// TestNetworkIdleHoldsThroughTheCapture: a capture starts as soon as the
// page has loaded with nothing in flight; a request that starts while it is
// being taken makes it wait for a quiet network and take it again.
func TestNetworkIdleHoldsThroughTheCapture(t *testing.T) {
	// The request starts during delay_capture, after the quiet moment.
	img := shared.mustImage(t, opts{"url": shared.page + "/late-fetch", "window_width": 60, "window_height": 60, "delay_capture": 200})
	if c := rgb(img, 30, 30); !near(c, 0, 255, 0) {
		t.Errorf("captured %v while a request was in flight; want the green after it", c)
	}
	// A page that is quiet at load is captured at once.
	start := time.Now()
	img = shared.mustImage(t, opts{"url": shared.page + "/color?c=ff0000", "window_width": 60, "window_height": 60})
	if c := rgb(img, 30, 30); !near(c, 255, 0, 0) {
		t.Errorf("quiet page: %v", c)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a quiet page took %v", d)
	}
}

func TestCustomJSAndResponseTypes(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.page + "/script", "format": "html", "response_type": "json",
		"custom_js": "document.getElementById('p').textContent = 'custom js ran'"})
	var j struct{ File, Format string }
	if err := json.Unmarshal(r.body, &j); err != nil || j.Format != "html" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	html, _ := base64.StdEncoding.DecodeString(j.File)
	if !bytes.Contains(html, []byte("custom js ran")) {
		t.Errorf("custom_js did not run: %s", html)
	}
	r = shared.capture(t, opts{"url": shared.page + "/script", "response_type": "empty"})
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("empty: %d %q", r.status, r.body)
	}
	r = shared.capture(t, opts{"url": shared.page + "/script", "custom_js": "throw new Error('boom')"})
	if r.status != 400 || r.errorJSON(t)["field"] != "custom_js" {
		t.Errorf("throwing custom_js: %d %s", r.status, r.body)
	}
}

func TestIgnoreHTTPSErrorsIsPerCapture(t *testing.T) {
	r := shared.capture(t, opts{"url": shared.tlsPage + "/color?c=00ff00", "window_width": 50, "window_height": 50})
	if r.status != 502 {
		t.Fatalf("self-signed certificate without ignore_https_errors: %d %s", r.status, r.body)
	}
	img := shared.mustImage(t, opts{"url": shared.tlsPage + "/color?c=00ff00", "window_width": 50, "window_height": 50, "ignore_https_errors": true})
	if c := rgb(img, 25, 25); !near(c, 0, 255, 0) {
		t.Errorf("colour %v", c)
	}
	// The next capture checks certificates again.
	if r := shared.capture(t, opts{"url": shared.tlsPage + "/color?c=00ff00"}); r.status != 502 {
		t.Errorf("ignore_https_errors leaked into the next capture: %d", r.status)
	}
}

func TestIsolationBetweenCaptures(t *testing.T) {
	if r := shared.capture(t, opts{"url": shared.page + "/cookie-set", "format": "html"}); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r := shared.capture(t, opts{"url": shared.page + "/cookie-read", "format": "html"})
	if !bytes.Contains(r.body, []byte("cookie=[] storage=[null]")) {
		t.Fatalf("state from the previous capture is visible: %s", r.body)
	}
}

func TestParallelCapturesDoNotMix(t *testing.T) {
	colours := []string{"ff0000", "00ff00", "0000ff", "ffff00", "00ffff", "ff00ff"}
	var wg sync.WaitGroup
	errs := make(chan string, len(colours))
	for _, c := range colours {
		wg.Go(func() {
			r := shared.capture(t, opts{"url": shared.page + "/color?c=" + c, "window_width": 64, "window_height": 64})
			img, _, err := image.Decode(bytes.NewReader(r.body))
			if err != nil {
				errs <- fmt.Sprintf("%s: %d %s", c, r.status, r.body)
				return
			}
			var want [3]uint8
			fmt.Sscanf(c, "%02x%02x%02x", &want[0], &want[1], &want[2])
			if got := rgb(img, 32, 32); !near(got, want[0], want[1], want[2]) {
				errs <- fmt.Sprintf("asked for %s, got %v", c, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// The fonts the image ships render here too (make deps-browser installs the
// same packages): CJK text is glyphs, not the box a missing font draws, and
// emoji are in colour.
func TestCJKAndEmojiRender(t *testing.T) {
	e := shared
	glyph := func(text string) image.Image {
		return e.mustImage(t, opts{"html_content": `<body style="margin:0;background:#fff"><span style="font-size:64px;line-height:80px">` + text + `</span>`,
			"window_width": 160, "window_height": 80})
	}
	same := func(a, b image.Image) bool {
		for y := 0; y < 80; y++ {
			for x := 0; x < 160; x++ {
				if rgb(a, x, y) != rgb(b, x, y) {
					return false
				}
			}
		}
		return true
	}
	tofu := glyph("\U0010FFFD\U0010FFFD") // no font has these: the missing-glyph box
	if same(glyph("世界"), tofu) {
		t.Error("世界 renders as missing-glyph boxes: no CJK font")
	}
	party := glyph("🎉")
	coloured := 0
	for y := 0; y < 80; y++ {
		for x := 0; x < 160; x++ {
			c := rgb(party, x, y)
			lo, hi := min(c[0], c[1], c[2]), max(c[0], c[1], c[2])
			if hi-lo > 60 {
				coloured++
			}
		}
	}
	if coloured < 200 {
		t.Errorf("🎉 has %d coloured pixels: no colour emoji font", coloured)
	}
}
