package egress

import (
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/egress/egresstest"
)

const proxyPassword = "pw-Zq81-never-shown"

func TestParseProxy(t *testing.T) {
	good := map[string]string{
		"http://user:" + proxyPassword + "@proxy.example:3128": "http://proxy.example:3128",
		"HTTPS://proxy.example":                                "https://proxy.example:443",
		"socks5://[2606:4700::1]:1080/":                        "socks5://[2606:4700::1]:1080",
		"socks5://u:" + proxyPassword + "@1.2.3.4":             "socks5://1.2.3.4:1080",
	}
	for in, want := range good {
		p, err := ParseProxy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseProxy(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	bad := []string{
		"ftp://proxy.example", "proxy.example:3128", "http://", "http://u:" + proxyPassword + "@proxy.example/path",
		"http://proxy.example:3128?x=1", "http://proxy.example:0", "http://proxy.example:70000", "socks4://1.2.3.4",
		"http://u:" + proxyPassword + "@%zz", "http://" + strings.Repeat("a", MaxProxyLength),
		"http://" + strings.Repeat("u", 300) + ":p@proxy.example",
	}
	for _, in := range bad {
		_, err := ParseProxy(in)
		if err == nil {
			t.Errorf("ParseProxy(%.40q) accepted", in)
		} else if strings.Contains(err.Error(), proxyPassword) {
			t.Errorf("ParseProxy's error shows the password: %v", err)
		}
	}
}

// pageServer answers on 127.0.0.2 and records who connected.
type pageServer struct {
	port  int
	mu    sync.Mutex
	peers []string
}

func startPage(t *testing.T, s *servers) *pageServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pageServer{port: ln.Addr().(*net.TCPAddr).Port}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		p.mu.Lock()
		p.peers = append(p.peers, host)
		p.mu.Unlock()
		io.WriteString(w, "proxied page")
	}))
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *pageServer) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.peers...)
}

// proxyGuard allows the page (127.0.0.2) and the proxies (127.0.0.3).
func proxyGuard(s *servers, page *pageServer, dns Resolver, mod func(*Config)) *Guard {
	return newTestGuard(s, dns, func(c *Config) {
		c.AllowCIDRs = append(c.AllowCIDRs, netip.MustParsePrefix("127.0.0.3/32"))
		c.AllowPorts = append(c.AllowPorts, page.port)
		if mod != nil {
			mod(c)
		}
	})
}

func mustProxy(t *testing.T, raw string) *Proxy {
	t.Helper()
	p, err := ParseProxy(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSessionThroughTheClientsProxy(t *testing.T) {
	s := startServers(t)
	page := startPage(t, s)
	for _, kind := range []string{"http", "socks5"} {
		t.Run(kind, func(t *testing.T) {
			dns := egresstest.NewResolver(map[string][]string{"page.test": {"127.0.0.2"}})
			g := proxyGuard(s, page, dns, nil)
			px := egresstest.Proxy(t, kind, egresstest.ProxyOptions{User: "alice", Password: proxyPassword, Source: "127.0.0.4",
				Hosts: map[string]string{"page.test": "127.0.0.2"}})
			before := len(page.seen())
			target := "http://page.test:" + strconv.Itoa(page.port) + "/"
			for _, tunnel := range []bool{false, true} {
				sess, _ := g.Open("t")
				sess.SetProxy(mustProxy(t, px.URL))
				code, body, err := through(sess, target, tunnel)
				sess.Close()
				if err != nil || code != 200 || body != "proxied page" {
					t.Fatalf("tunnel=%v: %d %q %v", tunnel, code, body, err)
				}
			}
			// The proxy was named the target; the guard never resolved it.
			want := "page.test:" + strconv.Itoa(page.port)
			if got := px.Targets(); len(got) != 2 || got[0] != want || got[1] != want {
				t.Errorf("proxy was asked for %q, want %s twice", got, want)
			}
			if n := dns.Asked("page.test"); n != 0 {
				t.Errorf("the guard resolved the target %d times", n)
			}
			for _, peer := range page.seen()[before:] {
				if peer != "127.0.0.4" {
					t.Errorf("the page saw %s, not the proxy's address", peer)
				}
			}
			// The port list still holds through a proxy.
			for _, tunnel := range []bool{false, true} {
				sess, _ := g.Open("t")
				sess.SetProxy(mustProxy(t, px.URL))
				if code, _, err := through(sess, "http://page.test:25/", tunnel); err == nil && code != http.StatusForbidden {
					t.Errorf("tunnel=%v: port 25 was reached through the proxy (%d)", tunnel, code)
				}
				sess.Close()
			}
			if n := len(px.Targets()); n != 2 {
				t.Errorf("the proxy was asked for a refused port (%d tunnels)", n)
			}
		})
	}
}

func TestProxyFailuresNameTheProxyNeverThePassword(t *testing.T) {
	s := startServers(t)
	page := startPage(t, s)
	dns := egresstest.NewResolver(nil)
	g := proxyGuard(s, page, dns, func(c *Config) { c.DialTimeout = time.Second })
	httpPx := egresstest.Proxy(t, "http", egresstest.ProxyOptions{User: "alice", Password: "right", Hosts: map[string]string{}})
	socksPx := egresstest.Proxy(t, "socks5", egresstest.ProxyOptions{User: "alice", Password: "right", Hosts: map[string]string{}})
	closed, _ := net.Listen("tcp", "127.0.0.3:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	silent, _ := net.Listen("tcp", "127.0.0.3:0")
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	wrong := func(u string) string { return strings.Replace(u, "alice:right", "alice:"+proxyPassword, 1) }
	cases := []struct{ proxy, want string }{
		{wrong(httpPx.URL), "refused the credentials (407"},
		{"http://" + httpPx.Addr, "needs credentials (407"},
		{wrong(socksPx.URL), "refused the credentials (SOCKS5)"},
		{"http://u:" + proxyPassword + "@" + closedAddr, "refused the connection"},
		{"socks5://u:" + proxyPassword + "@" + silent.Addr().String(), "did not answer in time"},
		{"http://u:" + proxyPassword + "@" + silent.Addr().String(), "did not answer in time"},
		{httpPx.URL, "answered 502"}, // the proxy cannot resolve the target
	}
	// Plain HTTP goes to an HTTP proxy in absolute form: its 407 is a
	// failure of the proxy, not the page's answer.
	sess, _ := g.Open("t")
	sess.SetProxy(mustProxy(t, wrong(httpPx.URL)))
	if code, _, _ := through(sess, "http://page.test:"+strconv.Itoa(page.port)+"/", false); code != http.StatusBadGateway ||
		sess.ProxyFailure() == nil || !strings.Contains(sess.ProxyFailure().Message, "refused the credentials (407") {
		t.Errorf("plain request, wrong credentials: %d %v", code, sess.ProxyFailure())
	}
	sess.Close()
	for _, c := range cases {
		sess, _ := g.Open("t")
		sess.SetProxy(mustProxy(t, c.proxy))
		_, _, err := through(sess, "http://page.test:"+strconv.Itoa(page.port)+"/", true)
		f := sess.ProxyFailure()
		sess.Close()
		if err == nil || f == nil || !strings.Contains(f.Message, c.want) {
			t.Errorf("%s: err %v, failure %v; want %q", mustProxy(t, c.proxy), err, f, c.want)
		}
	}
	if strings.Contains(s.logs.String(), proxyPassword) || !strings.Contains(s.logs.String(), `"event":"proxy_failed"`) {
		t.Errorf("log: %s", s.logs)
	}
	if httpPx.Denied() != 3 || socksPx.Denied() != 1 {
		t.Errorf("denied: http %d, socks %d", httpPx.Denied(), socksPx.Denied())
	}
}

// A proxy is a destination like any other: one at an address the policy
// refuses is never connected to, whatever the target.
func TestProxyAtARefusedAddress(t *testing.T) {
	s := startServers(t)
	page := startPage(t, s)
	dns := egresstest.NewResolver(map[string][]string{
		"secret.test": {"127.0.0.1"}, "meta.test": {"169.254.169.254"}, "private.test": {"10.0.0.5"},
		"rebind.test": {"127.0.0.3", "127.0.0.1"},
	})
	g := proxyGuard(s, page, dns, nil)
	port := strconv.Itoa(s.port) // the secret server's port
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "metadata.google.internal",
		"secret.test", "meta.test", "private.test", "0.0.0.0", "unknown.test"} {
		for _, scheme := range []string{"http", "socks5"} {
			p := mustProxy(t, scheme+"://u:"+proxyPassword+"@"+h+":"+port)
			if err := g.CheckProxy(t.Context(), p); err == nil {
				t.Errorf("CheckProxy(%s) allowed it", p)
			}
			sess, _ := g.Open("t")
			sess.SetProxy(p)
			_, _, err := through(sess, "http://page.test:"+strconv.Itoa(page.port)+"/", true)
			f := sess.ProxyFailure()
			sess.Close()
			if err == nil || f == nil || !strings.Contains(f.Message, "egress policy refuses") {
				t.Errorf("%s: err %v, failure %v", p, err, f)
			}
		}
	}
	// Checked at submit, rebound by dial time: the dial checks again.
	p := mustProxy(t, "http://rebind.test:"+port)
	if err := g.CheckProxy(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	sess, _ := g.Open("t")
	sess.SetProxy(p)
	if _, _, err := through(sess, "http://page.test:"+strconv.Itoa(page.port)+"/", true); err == nil {
		t.Error("a rebound proxy name was dialed")
	}
	sess.Close()
	if n := s.secret.Load(); n != 0 {
		t.Errorf("the secret server was reached %d times", n)
	}
	if strings.Contains(s.logs.String(), proxyPassword) {
		t.Error("a log line shows the password")
	}
}

func TestUpstreamProxy(t *testing.T) {
	s := startServers(t)
	page := startPage(t, s)
	dns := egresstest.NewResolver(map[string][]string{"page.test": {"127.0.0.2"}, "secret.test": {"127.0.0.1"}})
	up := egresstest.Proxy(t, "http", egresstest.ProxyOptions{Listen: "127.0.0.5:0", User: "op", Password: proxyPassword, Source: "127.0.0.6"})
	g := proxyGuard(s, page, dns, func(c *Config) { c.Upstream = mustProxy(t, up.URL) })
	pagePort := strconv.Itoa(page.port)
	// Every connection goes through it, named by the address the guard checked.
	for _, tunnel := range []bool{false, true} {
		sess, _ := g.Open("t")
		code, body, err := through(sess, "http://page.test:"+pagePort+"/", tunnel)
		sess.Close()
		if err != nil || code != 200 || body != "proxied page" {
			t.Fatalf("tunnel=%v: %d %q %v", tunnel, code, body, err)
		}
	}
	// The policy still comes first: the upstream never hears of the secret.
	sess, _ := g.Open("t")
	if _, _, err := through(sess, "http://secret.test:"+strconv.Itoa(s.port)+"/", true); err == nil {
		t.Error("secret.test was reached through the upstream")
	}
	sess.Close()
	// Webhook deliveries too.
	c := &http.Client{Transport: &http.Transport{DialContext: g.DialContext}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://page.test:" + pagePort + "/hook")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "127.0.0.2:" + pagePort
	if got := up.Targets(); len(got) != 3 || got[0] != want || got[2] != want {
		t.Errorf("upstream tunnels %q, want %s three times", got, want)
	}
	for _, peer := range page.seen() {
		if peer != "127.0.0.6" {
			t.Errorf("the page saw %s, not the upstream's address", peer)
		}
	}
	// Chained: the upstream is asked for the client's proxy (by its checked
	// address), the client's proxy for the target (by name).
	client := egresstest.Proxy(t, "socks5", egresstest.ProxyOptions{Hosts: map[string]string{"page.test": "127.0.0.2"}})
	sess, _ = g.Open("t")
	sess.SetProxy(mustProxy(t, client.URL))
	code, _, err := through(sess, "http://page.test:"+pagePort+"/", true)
	sess.Close()
	if err != nil || code != 200 {
		t.Fatalf("chained: %d %v", code, err)
	}
	if got := up.Targets(); got[len(got)-1] != client.Addr {
		t.Errorf("upstream's last tunnel %s, want the client's proxy %s", got[len(got)-1], client.Addr)
	}
	if got := client.Targets(); len(got) != 1 || got[0] != "page.test:"+pagePort {
		t.Errorf("client proxy tunnels %q", got)
	}
	// An upstream that refuses the operator's credentials is a proxy failure.
	bad := proxyGuard(s, page, dns, func(c *Config) { c.Upstream = mustProxy(t, "http://op:wrong@"+up.Addr) })
	sess, _ = bad.Open("t")
	through(sess, "http://page.test:"+pagePort+"/", true)
	if f := sess.ProxyFailure(); f == nil || !f.Upstream || !strings.Contains(f.Message, "the upstream proxy refused the credentials") {
		t.Errorf("upstream failure: %v", f)
	}
	sess.Close()
	if s.secret.Load() != 0 {
		t.Error("the secret server was reached")
	}
}

func TestHTTPSProxy(t *testing.T) {
	s := startServers(t)
	page := startPage(t, s)
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS() // a certificate for example.com and 127.0.0.1
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	px := egresstest.Proxy(t, "http", egresstest.ProxyOptions{Listen: "127.0.0.1:0", TLS: ts.TLS, User: "u", Password: proxyPassword,
		Hosts: map[string]string{"page.test": "127.0.0.2"}})
	dns := egresstest.NewResolver(map[string][]string{"example.com": {"127.0.0.1"}, "other.test": {"127.0.0.1"}})
	g := proxyGuard(s, page, dns, func(c *Config) {
		c.AllowCIDRs = append(c.AllowCIDRs, netip.MustParsePrefix("127.0.0.1/32"))
		c.ProxyRoots = roots
	})
	_, port, _ := net.SplitHostPort(px.Addr)
	for host, ok := range map[string]bool{"example.com": true, "other.test": false} {
		sess, _ := g.Open("t")
		sess.SetProxy(mustProxy(t, "https://u:"+proxyPassword+"@"+host+":"+port))
		code, _, err := through(sess, "http://page.test:"+strconv.Itoa(page.port)+"/", true)
		f := sess.ProxyFailure()
		sess.Close()
		switch {
		case ok && (err != nil || code != 200):
			t.Errorf("%s: %d %v %v", host, code, err, f)
		case !ok && (f == nil || !strings.Contains(f.Message, "TLS")):
			t.Errorf("%s: a proxy whose certificate does not match was used: %v", host, f)
		}
	}
}
