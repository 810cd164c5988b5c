package e2e

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/egress/egresstest"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
)

// The proxies of these tests listen on 127.0.0.3 (egresstest.Proxy's
// default, allowed to the service as a public proxy would be) and connect
// out from 127.0.0.4, so the page server can tell their requests from the
// service's own (127.0.0.1).
const (
	proxyHost   = "127.0.0.3"
	proxySource = "127.0.0.4"
)

func allowProxies(c *config.Config) {
	c.EgressAllowCIDRs = append(c.EgressAllowCIDRs, netip.MustParsePrefix(proxyHost+"/32"))
}

// proxied checks a capture of /proxied went through, its stylesheet too,
// and that the page server saw only from.
func (e *env) proxied(t *testing.T, opts map[string]any, from string) {
	t.Helper()
	before := e.hitCount("/proxied.css")
	img := e.mustImage(t, opts)
	if c := rgb(img, 10, 10); !near(c, 0, 0, 255) {
		t.Errorf("%v: pixel %v, want the stylesheet's blue", opts["proxy"], c)
	}
	if e.hitCount("/proxied.css") != before+1 {
		t.Errorf("%v: the stylesheet was not fetched once", opts["proxy"])
	}
	for _, p := range []string{"/proxied", "/proxied.css"} {
		if peer := e.lastHeaders(p).Get("X-Test-Peer"); peer != from {
			t.Errorf("%v: %s came from %s, want %s", opts["proxy"], p, peer, from)
		}
	}
}

func TestProxyPerRequest(t *testing.T) {
	e := own(t, allowProxies)
	password := "pw-" + randomHex(12) // recognisable, searched for in every output below
	hosts := map[string]string{"page.test": "127.0.0.2"}
	port := strconv.Itoa(e.port)
	target := "page.test:" + port
	tlsTarget := strings.Replace(strings.TrimPrefix(e.tlsPage, "https://"), "127.0.0.2", "page.test", 1)
	httpPx := egresstest.Proxy(t, "http", egresstest.ProxyOptions{User: "alice", Password: password, Source: proxySource, Hosts: hosts})
	socksPx := egresstest.Proxy(t, "socks5", egresstest.ProxyOptions{User: "alice", Password: password, Source: proxySource, Hosts: hosts})
	openPx := egresstest.Proxy(t, "http", egresstest.ProxyOptions{Source: proxySource, Hosts: hosts})
	var answers []result

	for _, px := range []*egresstest.ForwardProxy{httpPx, socksPx, openPx} {
		t.Run(strings.SplitN(px.URL, ":", 2)[0], func(t *testing.T) {
			e.proxied(t, map[string]any{"url": "http://" + target + "/proxied", "proxy": px.URL}, proxySource)
			// A WebSocket too.
			before := e.hitCount("/ws")
			img := e.mustImage(t, map[string]any{"url": "http://" + target + "/proxied-ws", "proxy": px.URL, "wait_for_selector": "body[data-ws=done]"})
			if c := rgb(img, 10, 10); !near(c, 0, 255, 0) || e.hitCount("/ws") != before+1 || e.lastHeaders("/ws").Get("X-Test-Peer") != proxySource {
				t.Errorf("websocket through %s: pixel %v, %d connections, from %s", px.URL, c, e.hitCount("/ws")-before, e.lastHeaders("/ws").Get("X-Test-Peer"))
			}
			// A redirect's next hop goes the same way.
			e.proxied(t, map[string]any{"url": "http://" + target + "/redirect?to=/proxied", "proxy": px.URL}, proxySource)
			// html_content: its subresources go through the proxy (https:
			// the document's origin is, and the test server's certificate
			// is its own).
			e.proxied(t, map[string]any{"html_content": `<link rel="stylesheet" href="https://` + tlsTarget + `/proxied.css"><body style="margin:0">`,
				"proxy": px.URL, "ignore_https_errors": true}, proxySource)
			for _, got := range px.Targets() {
				if got != target && got != tlsTarget {
					t.Errorf("the proxy was asked for %s, want %s", got, target)
				}
			}
			if n := len(px.Targets()); n < 4 {
				t.Errorf("only %d requests or tunnels for two pages, a redirect and three stylesheets", n)
			}
		})
	}
	// Targets are named to the proxy: the service never resolved page.test.
	if n := e.dns.Asked("page.test"); n != 0 {
		t.Errorf("the service resolved the target %d times", n)
	}
	// Without a proxy, the same page comes from the service itself.
	e.proxied(t, map[string]any{"url": "http://" + target + "/proxied"}, "127.0.0.1")

	// Failures are 502 ProxyError, saying what the proxy said.
	closed, _ := net.Listen("tcp", proxyHost+":0")
	dead := closed.Addr().String()
	closed.Close()
	wrong := strings.Replace(httpPx.URL, password, password+"x", 1)
	for proxy, want := range map[string]string{
		wrong: "the proxy refused the credentials (407 Proxy Authentication Required)",
		"http://" + strings.TrimPrefix(httpPx.URL, "http://alice:"+password+"@"): "the proxy needs credentials (407 Proxy Authentication Required)",
		strings.Replace(socksPx.URL, password, password+"x", 1):                  "the proxy refused the credentials (SOCKS5)",
		"http://alice:" + password + "@" + dead:                                  "the proxy refused the connection",
	} {
		r := e.capture(t, map[string]any{"url": "http://" + target + "/proxied", "proxy": proxy})
		answers = append(answers, r)
		if m := r.errorJSON(t); r.status != 502 || m["error_type"] != "ProxyError" || m["message"] != want {
			t.Errorf("%s: %d %s; want 502 ProxyError %q", proxy, r.status, r.body, want)
		}
	}

	// A proxy is a destination: every address class the guard refuses is
	// refused as a proxy too, before a tab is opened.
	for _, u := range blockedTargets(e) {
		h := hostPort(u)
		for _, scheme := range []string{"http", "socks5"} {
			proxy := scheme + "://alice:" + password + "@" + h
			r := e.capture(t, map[string]any{"url": "http://" + target + "/proxied", "proxy": proxy})
			answers = append(answers, r)
			if m := r.errorJSON(t); r.status != 400 || m["field"] != "proxy" {
				t.Errorf("proxy %s: %d %s; want a 400 naming proxy", proxy, r.status, r.body)
			}
		}
	}
	if n := e.secretHits.Load(); n != 0 {
		t.Errorf("the secret server was reached %d times", n)
	}
	for _, bad := range []string{"ftp://" + httpPx.Addr, "http://alice:" + password + "@" + httpPx.Addr + "/path", "http://" + strings.Repeat("a", egress.MaxProxyLength)} {
		r := e.capture(t, map[string]any{"url": e.page, "proxy": bad})
		answers = append(answers, r)
		if m := r.errorJSON(t); r.status != 400 || m["field"] != "proxy" {
			t.Errorf("proxy %.40s: %d %s", bad, r.status, r.body)
		}
	}

	// The password is searched for everywhere the request could leave a
	// trace: metadata, the cache, a job, its webhook and record, the logs.
	r := e.capture(t, map[string]any{"url": "http://" + target + "/proxied", "proxy": httpPx.URL, "response_type": "json", "cache_ttl": 600})
	answers = append(answers, r)
	if r.status != 200 {
		t.Fatalf("json: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/captures", map[string]any{"url": "http://" + target + "/proxied", "proxy": httpPx.URL, "webhook_url": e.page + "/hook"})
	answers = append(answers, r)
	var acc struct{ ID string }
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	if r.status != 202 || acc.ID == "" {
		t.Fatalf("async: %d %s", r.status, r.body)
	}
	poll.Within(t, 60*time.Second, "the job's webhook", func() bool { return len(e.hooksFor(map[string]bool{acc.ID: true})) > 0 })
	rec := e.do(t, "GET", "/captures/"+acc.ID, nil)
	answers = append(answers, rec, e.do(t, "GET", "/openapi.json", nil))
	if !strings.Contains(string(rec.body), `"done"`) {
		t.Errorf("job: %s", rec.body)
	}
	// A job refused at submit names the proxy, in its batch item.
	r = e.do(t, "POST", "/captures", map[string]any{"batch": []map[string]any{{"url": e.page, "proxy": "http://alice:" + password + "@127.0.0.1:" + port}}})
	answers = append(answers, r)
	if m := r.errorJSON(t); r.status != 400 || !strings.Contains(m["field"].(string), "proxy") {
		t.Errorf("async with a loopback proxy: %d %s", r.status, r.body)
	}
	for _, a := range answers {
		if strings.Contains(string(a.body), password) || strings.Contains(headerText(a), password) {
			t.Errorf("an answer shows the password: %d %.200s", a.status, a.body)
		}
	}
	for _, h := range e.hooksFor(map[string]bool{acc.ID: true}) {
		if strings.Contains(string(h.body), password) {
			t.Errorf("a webhook shows the password: %s", h.body)
		}
	}
	if strings.Contains(e.logs.String(), password) {
		t.Error("the log shows the password")
	}
	if !strings.Contains(e.logs.String(), `"event":"proxy_failed"`) {
		t.Error("no proxy_failed line in the log")
	}
	// Once the job is done, nothing on disk holds it: cache, records, queue.
	filepath.Walk(e.storageDir, func(p string, fi os.FileInfo, err error) error { //nolint:errcheck // walks what it can
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), password) {
				t.Errorf("%s holds the password", p)
			}
		}
		return nil
	})
}

// hostPort is the host:port of a URL as written (its port defaulted to
// 80), without url.Parse, which refuses some of the spellings tried.
func hostPort(u string) string {
	rest := u[strings.Index(u, "://")+3:]
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if !strings.Contains(strings.TrimPrefix(rest, "["), "]:") && strings.Count(rest, ":") != 1 {
		rest += ":80"
	}
	return rest
}

func headerText(r result) string {
	var b strings.Builder
	for k, vs := range r.header {
		b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	return b.String()
}

func TestUpstreamProxy(t *testing.T) {
	hosts := map[string]string{"page.test": "127.0.0.2"}
	password := "op-" + randomHex(12)
	up := egresstest.Proxy(t, "http", egresstest.ProxyOptions{Listen: "127.0.0.5:0", User: "op", Password: password, Source: "127.0.0.6"})
	upstream, err := egress.ParseProxy(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := own(t, func(c *config.Config) { allowProxies(c); c.UpstreamProxy = upstream })
	port := strconv.Itoa(e.port)
	// Every connection of a capture goes through the upstream, named by
	// the address the guard checked; the guard's policy still comes first.
	e.proxied(t, map[string]any{"url": "http://page.test:" + port + "/proxied"}, "127.0.0.6")
	for _, got := range up.Targets() {
		if got != "127.0.0.2:"+port {
			t.Errorf("the upstream was asked for %s", got)
		}
	}
	tunnels := len(up.Targets())
	r := e.capture(t, map[string]any{"url": "http://secret.test:" + port + "/"})
	if r.status != 502 || len(up.Targets()) != tunnels || e.secretHits.Load() != 0 {
		t.Errorf("secret.test through the upstream: %d %s, %d tunnels", r.status, r.body, len(up.Targets())-tunnels)
	}
	// Webhook deliveries too.
	r = e.do(t, "POST", "/captures", map[string]any{"url": e.page + "/proxied", "webhook_url": e.page + "/hook"})
	var acc struct{ ID string }
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	poll.Within(t, 60*time.Second, "the job's webhook", func() bool { return len(e.hooksFor(map[string]bool{acc.ID: true})) > 0 })
	if e.lastHeaders("/proxied").Get("X-Test-Peer") != "127.0.0.6" {
		t.Error("the async capture did not go through the upstream")
	}
	// A client's proxy is refused: PROXY_CHAINING is off by default.
	client := egresstest.Proxy(t, "socks5", egresstest.ProxyOptions{Source: proxySource, Hosts: hosts})
	r = e.capture(t, map[string]any{"url": "http://page.test:" + port + "/proxied", "proxy": client.URL})
	if m := r.errorJSON(t); r.status != 400 || m["field"] != "proxy" || !strings.Contains(m["message"].(string), "PROXY_CHAINING") {
		t.Errorf("client proxy without chaining: %d %s", r.status, r.body)
	}
	// With chaining, the upstream carries the tunnel to the client's proxy.
	chained := own(t, func(c *config.Config) { allowProxies(c); c.UpstreamProxy = upstream; c.ProxyChaining = true })
	chained.proxied(t, map[string]any{"url": "http://page.test:" + strconv.Itoa(chained.port) + "/proxied", "proxy": client.URL}, proxySource)
	if got := up.Targets(); got[len(got)-1] != client.Addr {
		t.Errorf("the upstream's last tunnel went to %s, want the client's proxy %s", got[len(got)-1], client.Addr)
	}
	if strings.Contains(e.logs.String()+chained.logs.String(), password) {
		t.Error("the log shows the upstream's password")
	}
}
