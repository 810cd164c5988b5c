package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
)

// A full page far wider and taller than the viewport, at density 2, stays
// within the pixel budget (it was a 12000×12000 image). A 64 MP capture is
// the heaviest the service allows: it gets the production CAPTURE_TIMEOUT,
// not the suite's shorter one.
func TestFullPageWithinPixelBudget(t *testing.T) {
	def, _ := config.Load(func(string) string { return "" })
	e := own(t, func(c *config.Config) { c.CaptureTimeout = def.CaptureTimeout })
	r := e.capture(t, opts{"html_content": `<body style="margin:0"><div style="width:6000px;height:6000px;background:#08f"></div>`,
		"full_page": true, "pixel_density": 2, "format": "jpeg", "window_width": 800, "window_height": 600})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	cfg, _, _ := image.DecodeConfig(bytes.NewReader(r.body))
	if px := int64(cfg.Width) * int64(cfg.Height); px > 64_000_000 || cfg.Width != 12000 {
		t.Fatalf("%d×%d = %d pixels, over the 64 MP budget (or not the page's width)", cfg.Width, cfg.Height, px)
	}
	// A viewport over the budget is refused before any work.
	r = e.capture(t, opts{"url": e.page + "/", "window_width": 10000, "window_height": 10000, "pixel_density": 2})
	if r.status != 400 || r.errorJSON(t)["field"] != "window_width" {
		t.Fatalf("a 400 MP viewport: %d %s", r.status, r.body)
	}
}

// A page that lies about an element's box (getBoundingClientRect, in its
// own world) cannot make a selector capture larger than the element.
func TestSelectorGeometryIgnoresPageScript(t *testing.T) {
	e := shared
	html := `<body style="margin:0"><div id="box" style="width:10px;height:10px;background:#f00"></div><script>
		Element.prototype.getBoundingClientRect = () => ({left: 0, top: 0, x: 0, y: 0, width: 5000, height: 30000});
		Document.prototype.querySelector = () => document.body;
	</script>`
	img := e.mustImage(t, opts{"html_content": html, "selector": "#box"})
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 10 {
		t.Fatalf("the lying page made the clip %d×%d, want 10×10", b.Dx(), b.Dy())
	}
	// An invalid selector is the client's error, as in wait_for_selector.
	for _, sel := range []string{"a[", "###", ":nth-child(", "p:has(", "}"} {
		r := e.capture(t, opts{"html_content": html, "selector": sel})
		if r.status != 400 || r.errorJSON(t)["field"] != "selector" {
			t.Errorf("selector %q: %d %s", sel, r.status, r.body)
		}
	}
}

// A page that grows its DOM to 40 MB (a comment: no layout) is refused as too large
// before the bytes cross into the service (MAX_OUTPUT_BYTES is 32 MiB).
func TestHTMLOutputByteLimit(t *testing.T) {
	e := shared
	start := time.Now()
	r := e.capture(t, opts{"html_content": `<body><script>document.body.append(document.createComment("x".repeat(4e7)))</script>`, "format": "html"})
	if r.status != 413 || r.errorJSON(t)["error_type"] != "PayloadTooLarge" {
		t.Fatalf("%d %.300s", r.status, r.body)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s", d)
	}
}

// With PNG_ENCODING=speed, PNGs are encoded with Chrome's fast settings
// (the same pixels, a larger file); one that is then over MAX_OUTPUT_BYTES
// is encoded again for size, and served if that fits: never refused for the
// operator's choice.
func TestPNGOverTheLimitAsEncodedForSpeedIsEncodedForSize(t *testing.T) {
	var rows strings.Builder
	for i := range 400 {
		fmt.Fprintf(&rows, `<p style="margin:0;padding:4px;background:hsl(%d,60%%,%d%%)">row %d: the quick brown fox jumps over the lazy dog %d</p>`,
			i*37%360, 30+i%50, i, i*i)
	}
	o := opts{"html_content": rows.String(), "full_page": true, "window_width": 1920, "window_height": 1080}
	size := shared.capture(t, o)
	fast := own(t, func(c *config.Config) { c.PNGEncoding = "speed" }).capture(t, o)
	if size.status != 200 || fast.status != 200 || len(fast.body) <= len(size.body) {
		t.Fatalf("encoded for size (the default): %d, %d bytes; for speed: %d, %d bytes", size.status, len(size.body), fast.status, len(fast.body))
	}
	e := own(t, func(c *config.Config) { c.PNGEncoding, c.MaxOutputBytes = "speed", int64(len(fast.body))-1 })
	small := e.capture(t, o)
	if small.status != 200 || len(small.body) >= len(fast.body) {
		t.Fatalf("over the limit as encoded for speed (%d bytes): %d, %d bytes %.200s", len(fast.body), small.status, len(small.body), small.body)
	}
	a, _, err := image.Decode(bytes.NewReader(fast.body))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := image.Decode(bytes.NewReader(small.body))
	if err != nil {
		t.Fatal(err)
	}
	if d, _, err := imagediff.Compare(context.Background(), a, b, 0); err != nil || d.MismatchRatio != 0 {
		t.Fatalf("the two encodings differ in their pixels: %+v %v", d, err)
	}
	t.Logf("%d bytes encoded for speed, %d for size", len(fast.body), len(small.body))
}

// A page that hangs its renderer after load costs the request the time it
// allowed (wait_for_timeout, at least 5 s for the output), not
// CAPTURE_TIMEOUT.
func TestHungRendererAnswersWithinTheRequestsTime(t *testing.T) {
	e := shared
	start := time.Now()
	r := e.capture(t, opts{"html_content": `<script>setTimeout(() => { while (1) {} }, 300)</script><p>hi</p>`, "wait_for_timeout": 2000, "delay_capture": 1000})
	if r.status != 504 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answered after %s (CAPTURE_TIMEOUT is 20 s here)", d)
	}
	if r := e.capture(t, opts{"url": e.page + "/color?c=00ff00", "window_width": 20, "window_height": 20}); r.status != 200 {
		t.Fatalf("after the hung page: %d", r.status)
	}
}

// A renderer that grows past RENDERER_MAX_MEMORY_MB is ended: its request
// fails at once, and the instance captures on.
func TestRendererMemoryWatchdog(t *testing.T) {
	e := own(t, func(c *config.Config) { c.RendererMaxMB = 300 })
	start := time.Now()
	r := e.capture(t, opts{"html_content": `<script>
		const keep = [];
		setInterval(() => { for (let i = 0; i < 20; i++) keep.push(new Float64Array(1 << 20).fill(Math.random())); }, 20);
	</script>`, "delay_capture": 15000})
	if r.status != 502 || r.errorJSON(t)["error_type"] != "NavigationError" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Fails at once: before the capture's own delay would have ended it.
	if d := time.Since(start); d >= 15*time.Second {
		t.Errorf("answered after %s, the page's whole delay_capture", d)
	}
	if !strings.Contains(e.logs.String(), `"event":"renderer_memory_exceeded"`) {
		t.Error("the kill was not logged")
	}
	if r := e.capture(t, opts{"url": e.page + "/color?c=00ff00", "window_width": 20, "window_height": 20}); r.status != 200 {
		t.Fatalf("after the watchdog: %d %s", r.status, r.body)
	}
}

// The review's forgery: a signature POST /sign made for custom_js=1,
// replayed with the client "dev&custom_js=1" and no custom_js.
func TestSignedURLForgeryByJoining(t *testing.T) {
	e := shared
	r := e.do(t, "POST", "/sign", map[string]any{"params": map[string]any{"html_content": "<p>hi</p>", "custom_js": "1", "format": "html"}})
	var m struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(r.body, &m) != nil || r.status != 200 {
		t.Fatalf("sign: %d %s", r.status, r.body)
	}
	u, _ := url.Parse(m.URL)
	q := u.Query()
	q.Del("custom_js")
	q.Set("client", "dev&custom_js=1")
	if r := get(t, e.svc.URL+"/capture?"+q.Encode()); r.status != 403 {
		t.Fatalf("the replay: %d %s", r.status, r.body)
	}
	// The same join under the original scheme, signed by a key holder, is
	// refused as ambiguous rather than read one way or the other.
	exp := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	orig := map[string]string{"html_content": "<p>hi</p>", "client": "dev&custom_js=1", "format": "html", "expires": exp}
	// Signed the way the original does it (Sign itself refuses to).
	mac := hmac.New(sha256.New, []byte(e.signingKey))
	mac.Write([]byte(signing.Canonical(orig)))
	q = url.Values{"signature": {base64.RawURLEncoding.EncodeToString(mac.Sum(nil))}}
	for k, v := range orig {
		q.Set(k, v)
	}
	if r := get(t, e.svc.URL+"/capture?"+q.Encode()); r.status != 403 || !strings.Contains(string(r.body), "signature_version=2") {
		t.Fatalf("an ambiguous original-scheme URL: %d %s", r.status, r.body)
	}
	// A client param that is not a client id is refused even when signed.
	bad, _ := signing.New([]byte(e.signingKey)).Query(map[string]string{"url": e.page + "/", "client": "Dev Ops"}, time.Now().Add(time.Minute))
	if r := get(t, e.svc.URL+"/capture?"+bad.Encode()); r.status != 403 {
		t.Fatalf("client %q: %d %s", "Dev Ops", r.status, r.body)
	}
}

// A URL minted by POST /sign dies with the key version that minted it,
// within one refresh; another client's URLs keep working.
func TestSignedURLDiesWithItsKey(t *testing.T) {
	fake := fakesm.StartT(t)
	e := own(t, func(c *config.Config) {
		c.AuthTokens = nil
		c.AuthSecretProject = "proj"
		c.SecretEndpoint = fake.Addr
		c.AuthRefresh = 200 * time.Millisecond
	})
	acme, beta := randomHex(32), randomHex(32)
	va := fake.Put("proj", "pixashot-client-acme", map[string]string{keystore.ClientLabel: "acme"}, acme, time.Now())
	fake.Put("proj", "pixashot-client-beta", map[string]string{keystore.ClientLabel: "beta"}, beta, time.Now())
	poll.Until(t, "the keys to load", func() bool { return probe(e.svc.URL, acme) == 400 && probe(e.svc.URL, beta) == 400 })
	mint := func(token string) string {
		req, _ := http.NewRequest("POST", e.svc.URL+"/sign", strings.NewReader(
			`{"params":{"url":"`+e.page+`/color?c=00ff00","window_width":10,"window_height":10}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			URL string `json:"url"`
		}
		if json.NewDecoder(resp.Body).Decode(&m) != nil || resp.StatusCode != 200 {
			t.Fatalf("sign: %d", resp.StatusCode)
		}
		return m.URL
	}
	ua, ub := mint(acme), mint(beta)
	if s := status(ua); s != 200 {
		t.Fatalf("acme's URL before the revoke: %d", s)
	}
	if err := fake.SetState(va, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	poll.Until(t, "acme's URL to be refused", func() bool { return status(ua) == 403 })
	if d := time.Since(revoked); d > 2*time.Second {
		t.Errorf("refused %s after the disable; the refresh is 200 ms", d)
	}
	if s := status(ub); s != 200 {
		t.Fatalf("beta's URL after acme's revoke: %d", s)
	}
}
