package e2e

import (
	"bytes"
	"image"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Every vector of the security research's table that a capture request can
// carry. The secret server sits on a blocked loopback address at the page
// server's port; it must never be hit, and its marker must reach no client
// (env.do fails the test if it does).

// blockedTargets are the URLs of every address class the guard refuses:
// loopback in its spellings, metadata, private ranges, names that resolve
// there, and the service itself.
func blockedTargets(e *env) []string {
	p := strconv.Itoa(e.port)
	svc, _ := url.Parse(e.svc.URL)
	return []string{
		"http://127.0.0.1:" + p + "/", "http://127.1:" + p + "/", "http://2130706433:" + p + "/",
		"http://0x7f000001:" + p + "/", "http://0177.0.0.1:" + p + "/", "http://0x7f.1:" + p + "/",
		"http://localhost:" + p + "/", "http://a.localhost:" + p + "/", "http://LOCALHOST:" + p + "/",
		"http://[::1]:" + p + "/", "http://[::ffff:127.0.0.1]:" + p + "/", "http://[::ffff:7f00:1]:" + p + "/",
		"http://0.0.0.0:" + p + "/", "http://0:" + p + "/", "http://%31%32%37.0.0.1:" + p + "/", "http://127。0。0。1:" + p + "/",
		"http://169.254.169.254:" + p + "/computeMetadata/v1/instance/service-accounts/default/token",
		"http://169.254.169.254/computeMetadata/v1/", "http://2852039166:" + p + "/", "http://[::ffff:a9fe:a9fe]:" + p + "/",
		"http://metadata.google.internal:" + p + "/", "http://metadata.google.internal.:" + p + "/", "http://metadata:" + p + "/",
		"http://meta.test:" + p + "/", "http://secret.test:" + p + "/", "https://127.0.0.1:" + p + "/", "https://secret.test:" + p + "/",
		"HTTP://127.0.0.1:" + p + "/", "http://10.0.0.5:" + p + "/", "http://192.168.1.1:" + p + "/", "http://100.64.0.1:" + p + "/",
		svc.Scheme + "://" + svc.Host + "/health", // the service itself
	}
}

func TestTopLevelTargetsAreRefused(t *testing.T) {
	e := shared
	targets := blockedTargets(e)
	for _, target := range targets {
		r := e.capture(t, opts{"url": target, "format": "html", "wait_for_timeout": 5000})
		switch r.status {
		case 502:
			m := r.errorJSON(t)
			if m["error_type"] != "NavigationError" || m["message"] != "the target could not be loaded" {
				t.Errorf("%s: the refusal says more than it should: %s", target, r.body)
			}
		case 400: // refused before the browser
		default:
			t.Errorf("%s: %d %s, want a refusal", target, r.status, r.body)
		}
	}
	if n := e.secretHits.Load(); n != 0 {
		t.Fatalf("the secret server was hit %d times", n)
	}
	if !strings.Contains(e.logs.String(), `"event":"egress_blocked"`) {
		t.Error("no egress_blocked event was logged")
	}
}

func TestNonHTTPSchemesAreRefused(t *testing.T) {
	for _, target := range []string{
		"file:///etc/passwd", "FILE:///etc/passwd", "file://localhost/etc/passwd", "view-source:http://127.0.0.1/",
		"data:text/html,<script>fetch('http://127.0.0.1/')</script>", "javascript:fetch('http://127.0.0.1/')",
		"chrome://version", "about:blank", "blob:http://x/y", "ftp://127.0.0.1/", "ws://127.0.0.1/", `\\localhost\etc\passwd`,
	} {
		r := shared.capture(t, opts{"url": target})
		if r.status != 400 || r.errorJSON(t)["field"] != "url" {
			t.Errorf("%s: %d %s", target, r.status, r.body)
		}
	}
}

// localPage is a page the local-scheme test serves both as a file and over
// http: red, and holding localMarker.
const (
	localMarker = "local-file-content-7d41"
	localPage   = `<html><body style="margin:0;background:#ff0000"><p>` + localMarker + `</p></body></html>`
)

// A page's own ways to reach a local file, or its source, in an ordinary
// capture (which turns no request interception on): Chrome refuses them by
// itself. Each way is first shown to work on the same content over http,
// so a refusal is not a way of looking that sees nothing.
func TestLocalSchemesInsidePages(t *testing.T) {
	e := shared
	f := filepath.Join(t.TempDir(), "local.html")
	if err := os.WriteFile(f, []byte(localPage), 0o644); err != nil {
		t.Fatal(err)
	}
	local, overHTTP := "file://"+f, e.page+"/as-local-file"
	ways := func(to string) []string {
		q := url.QueryEscape(to)
		return []string{e.page + "/navigate?how=js&to=" + q, e.page + "/navigate?how=meta&to=" + q,
			e.page + "/redirect?code=302&to=" + q, e.page + "/vector?kind=popup&t=" + q,
			e.page + "/vector?kind=fetch&t=" + q, e.page + "/vector?kind=xhr&t=" + q, e.page + "/vector?kind=worker&t=" + q}
	}
	shows := func(u string) bool {
		r := e.capture(t, opts{"url": u, "format": "html", "delay_capture": 300, "wait_for_timeout": 5000})
		if r.status != 200 && r.status != 502 {
			t.Errorf("%s: %d %s", u, r.status, r.body)
		}
		return bytes.Contains(r.body, []byte(localMarker))
	}
	red := func(to string) bool {
		u := e.page + "/vector?kind=iframe&t=" + url.QueryEscape(to)
		r := e.capture(t, opts{"url": u, "window_width": 400, "window_height": 300, "delay_capture": 300})
		img, _, err := image.Decode(bytes.NewReader(r.body))
		if r.status != 200 || err != nil {
			t.Errorf("%s: %d %v", u, r.status, err)
			return false
		}
		c := rgb(img, 200, 150)
		return c[0] > 200 && c[1] < 60 && c[2] < 60
	}
	// Four at a time, as concurrent clients would.
	type check struct {
		u    string
		seen func(string) bool
		want bool
	}
	var checks []check
	for i, u := range ways(overHTTP) {
		if i != 3 { // a popup is never the capture
			checks = append(checks, check{u, shows, true})
		}
	}
	checks = append(checks, check{overHTTP, red, true})
	for _, to := range []string{local, "view-source:" + local, "view-source:" + overHTTP} {
		for _, u := range ways(to) {
			checks = append(checks, check{u, shows, false})
		}
	}
	checks = append(checks, check{local, red, false})
	work := make(chan check)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for c := range work {
				switch got := c.seen(c.u); {
				case c.want && !got:
					t.Errorf("%s: the page over http was not shown, so the refusals prove nothing", c.u)
				case !c.want && got:
					t.Errorf("%s: a page reached local content", c.u)
				}
			}
		})
	}
	for _, c := range checks {
		work <- c
	}
	close(work)
	wg.Wait()
}

func TestNavigationsToBlockedTargets(t *testing.T) {
	e := shared
	secret := "http://127.0.0.1:" + strconv.Itoa(e.port) + "/"
	named := "http://secret.test:" + strconv.Itoa(e.port) + "/"
	var urls []string
	for _, to := range []string{secret, named, "http://169.254.169.254:" + strconv.Itoa(e.port) + "/", "file:///etc/passwd"} {
		q := url.QueryEscape(to)
		for _, code := range []string{"301", "302", "303", "307", "308"} {
			urls = append(urls, e.page+"/redirect?code="+code+"&to="+q)
		}
		urls = append(urls, e.page+"/navigate?how=meta&to="+q, e.page+"/navigate?how=js&to="+q)
	}
	for _, u := range urls {
		r := e.capture(t, opts{"url": u, "format": "html", "delay_capture": 300, "wait_for_timeout": 5000})
		if r.status != 200 && r.status != 502 {
			t.Errorf("%s: %d %s", u, r.status, r.body)
		}
	}
	if n := e.secretHits.Load(); n != 0 {
		t.Fatalf("a redirect or navigation reached the secret server %d times", n)
	}
}

func TestSubresourcesToBlockedTargets(t *testing.T) {
	e := shared
	p := strconv.Itoa(e.port)
	kinds := []string{"img", "iframe", "script", "style", "font", "import", "prefetch", "fetch", "xhr", "beacon",
		"ws", "eventsource", "worker", "popup", "webrtc"}
	var cases []string
	for _, target := range []string{"http://127.0.0.1:" + p + "/s", "http://secret.test:" + p + "/s", "https://127.0.0.1:" + p + "/s", "http://[::1]:" + p + "/s"} {
		for _, kind := range kinds {
			cases = append(cases, e.page+"/vector?kind="+kind+"&t="+url.QueryEscape(target))
		}
	}
	// Four at a time: the cases are independent, as concurrent clients are.
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for u := range work {
				r := e.capture(t, opts{"url": u, "format": "html", "wait_for_network": "mostly_idle", "delay_capture": 150})
				if r.status != 200 {
					t.Errorf("%s: %d %s", u, r.status, r.body)
				}
			}
		})
	}
	for _, u := range cases {
		work <- u
	}
	close(work)
	wg.Wait()
	// The same page as html_content: user HTML gets no more reach than a site.
	r := e.capture(t, opts{"html_content": vectorPage("fetch", "http://127.0.0.1:"+p+"/s"), "format": "html", "delay_capture": 200})
	if r.status != 200 {
		t.Errorf("html_content: %d %s", r.status, r.body)
	}
	// custom_js is page script under the same policy.
	r = e.capture(t, opts{"url": e.page + "/script", "format": "html",
		"custom_js": "fetch('http://127.0.0.1:" + p + "/s').then(r => r.text()).then(x => document.body.append(x)).catch(() => {})", "delay_capture": 200})
	if r.status != 200 {
		t.Errorf("custom_js: %d %s", r.status, r.body)
	}
	if n := e.secretHits.Load(); n != 0 {
		t.Fatalf("a subresource reached the secret server %d times", n)
	}
}

func TestDNSRebindingInsideAPage(t *testing.T) {
	e := shared
	// rebind.test answers the page server's address once, then the secret
	// server's. The page fetches its own origin after load.
	u := "http://rebind.test:" + strconv.Itoa(e.port) + "/vector?kind=fetch&t=" + url.QueryEscape("/again")
	r := e.capture(t, opts{"url": u, "format": "html", "delay_capture": 300})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if n := e.secretHits.Load(); n != 0 {
		t.Fatalf("the rebound name reached the secret server %d times", n)
	}
}

// WebRTC cannot reach an address over UDP, which no HTTP proxy carries: a
// page that gathers ICE candidates against a STUN/TURN server on loopback
// sends it not one packet.
func TestWebRTCSendsNoUDP(t *testing.T) {
	e := shared
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var packets atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			packets.Add(1)
		}
	}()
	target := "http://" + pc.LocalAddr().String()
	r := e.capture(t, opts{"url": e.page + "/vector?kind=webrtc&t=" + url.QueryEscape(target), "format": "html", "delay_capture": 1500})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), "rtc-started") {
		t.Fatalf("the page did not start a peer connection (the case would prove nothing): %.300s", r.body)
	}
	if n := packets.Load(); n != 0 {
		t.Fatalf("the STUN/TURN server on loopback received %d UDP packets", n)
	}
}
