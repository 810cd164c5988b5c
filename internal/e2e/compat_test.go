package e2e

import (
	"bytes"
	"image"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
)

// A click that submits a form, or follows a link, is followed to the page
// it leads to (it hung until CAPTURE_TIMEOUT, and html gave the page before).
func TestClickThatNavigates(t *testing.T) {
	e := shared
	steps := []map[string]any{
		{"action": "type", "selector": "#username", "text": "testuser"},
		{"action": "click", "selector": "#submit"},
	}
	start := time.Now()
	r := e.capture(t, opts{"url": e.page + "/form", "format": "html", "wait_for_timeout": 3000, "interactions": steps})
	if r.status != 200 || !strings.Contains(string(r.body), "got username=testuser") {
		t.Fatalf("submit: %d %.300s", r.status, r.body)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("the submit took %s", d)
	}
	img := e.mustImage(t, opts{"url": e.page + "/form", "window_width": 200, "window_height": 100, "wait_for_timeout": 3000,
		"interactions": []map[string]any{{"action": "click", "selector": "#link"}}})
	if c := rgb(img, 150, 80); !near(c, 0, 255, 0) {
		t.Errorf("after a link click the capture shows %v, not the linked page", c)
	}
}

// A target that refuses the connection is a 502 over http as over https
// (it was a blank 200 over http).
func TestRefusedConnectionIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := own(t, func(c *config.Config) { c.EgressAllowPorts = append(c.EgressAllowPorts, closed) })
	for _, scheme := range []string{"http", "https"} {
		r := e.capture(t, opts{"url": scheme + "://127.0.0.2:" + strconv.Itoa(closed) + "/"})
		if r.status != 502 || r.errorJSON(t)["error_type"] != "NavigationError" {
			t.Errorf("%s to a closed port: %d %s", scheme, r.status, r.body)
		}
	}
}

// The original's documented custom_js uses top-level await.
func TestCustomJSTopLevelAwait(t *testing.T) {
	e := shared
	r := e.capture(t, opts{"url": e.page + "/color?c=ff0000", "format": "html",
		"custom_js": `await new Promise(r => setTimeout(r, 300)); document.body.append("awaited");`})
	if r.status != 200 || !strings.Contains(string(r.body), "awaited") {
		t.Fatalf("%d %.300s", r.status, r.body)
	}
}

// The original's options: background_color paints a page that has none,
// iphone_13 is a device, wait_for.timeout bounds its step.
func TestOriginalOptions(t *testing.T) {
	e := shared
	img := e.mustImage(t, opts{"html_content": "<p>hi</p>", "background_color": "#0000ff", "window_width": 50, "window_height": 50})
	if c := rgb(img, 45, 45); !near(c, 0, 0, 255) {
		t.Errorf("background_color: %v", c)
	}
	r := e.capture(t, opts{"url": e.page + "/color?c=00ff00", "template": "iphone_13"})
	cfg, _, err := image.DecodeConfig(bytes.NewReader(r.body))
	if r.status != 200 || err != nil || cfg.Width != 390*3 || cfg.Height != 844*3 {
		t.Fatalf("iphone_13: %d %v %dx%d", r.status, err, cfg.Width, cfg.Height)
	}
	start := time.Now()
	r = e.capture(t, opts{"url": e.page + "/color?c=00ff00", "wait_for_timeout": 10000, "interactions": []map[string]any{
		{"action": "wait_for", "wait_for": map[string]any{"type": "selector", "value": "#never", "timeout": 500}}}})
	if r.status != 504 || time.Since(start) > 5*time.Second {
		t.Errorf("wait_for.timeout 500 ms: %d after %s", r.status, time.Since(start))
	}
	if r := e.capture(t, opts{"url": e.page + "/", "format": "html"}); r.header.Get("Content-Type") != "text/html" {
		t.Errorf("format html: Content-Type %q", r.header.Get("Content-Type"))
	}
}
