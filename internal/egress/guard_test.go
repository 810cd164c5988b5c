package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/egress/egresstest"
)

// servers: an allowed one on 127.0.0.2 and a secret one on 127.0.0.1, both on
// the same port, so a rebinding name can point at either.
type servers struct {
	port   int
	secret atomic.Int64
	logs   *bytes.Buffer
}

func startServers(t *testing.T) *servers {
	t.Helper()
	s := &servers{}
	ok, bad, err := egresstest.SamePortPair()
	if err != nil {
		t.Fatal(err)
	}
	s.port = ok.Addr().(*net.TCPAddr).Port
	go http.Serve(ok, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "allowed page") }))
	go http.Serve(bad, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.secret.Add(1)
		io.WriteString(w, "SECRET")
	}))
	t.Cleanup(func() { ok.Close(); bad.Close() })
	return s
}

func newTestGuard(s *servers, dns Resolver, mod func(*Config)) *Guard {
	s.logs = &bytes.Buffer{}
	cfg := Config{
		AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		AllowPorts: []int{s.port},
		Resolver:   dns,
		Logger:     slog.New(slog.NewJSONHandler(s.logs, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg)
}

// through fetches target via the session, as plain HTTP (absolute form) or
// through a CONNECT tunnel.
func through(sess *Session, target string, tunnel bool) (int, string, error) {
	pu, _ := url.Parse(sess.ProxyURL())
	tr := &http.Transport{Proxy: http.ProxyURL(pu), DisableKeepAlives: true}
	if tunnel {
		// A CONNECT with plain HTTP inside: the tunnel is what is tested.
		tr = &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := net.Dial("tcp", pu.Host)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
			buf := make([]byte, 256)
			n, _ := c.Read(buf)
			if !strings.Contains(string(buf[:n]), " 200 ") {
				c.Close()
				return nil, fmt.Errorf("tunnel refused: %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
			}
			return c, nil
		}}
	}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get(target)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestGuardRefusesEveryInternalTarget(t *testing.T) {
	s := startServers(t)
	dns := egresstest.NewResolver(map[string][]string{
		"page.test":    {"127.0.0.2"},
		"secret.test":  {"127.0.0.1"},
		"meta.test":    {"169.254.169.254"},
		"mapped.test":  {"::ffff:127.0.0.1"},
		"private.test": {"10.0.0.5"},
	})
	g := newTestGuard(s, dns, nil)
	p := strconv.Itoa(s.port)
	targets := []string{
		"127.0.0.1", "localhost", "a.localhost", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0.0.0.0",
		"169.254.169.254", "metadata.google.internal", "metadata", "secret.test", "meta.test", "mapped.test",
		"private.test", "unknown.test",
	}
	for _, tunnel := range []bool{false, true} {
		for _, h := range targets {
			sess, err := g.Open("t")
			if err != nil {
				t.Fatal(err)
			}
			code, body, err := through(sess, "http://"+h+":"+p+"/", tunnel)
			sess.Close()
			if err == nil && (code != http.StatusForbidden || body != "") {
				t.Errorf("tunnel=%v %s: got %d %q, want a refusal", tunnel, h, code, body)
			}
			if strings.Contains(body, "SECRET") {
				t.Errorf("tunnel=%v %s: secret leaked", tunnel, h)
			}
		}
	}
	if n := s.secret.Load(); n != 0 {
		t.Fatalf("secret server was hit %d times", n)
	}
	// Allowed traffic still flows, both ways.
	for _, tunnel := range []bool{false, true} {
		for _, h := range []string{"127.0.0.2", "page.test"} {
			sess, _ := g.Open("t")
			code, body, err := through(sess, "http://"+h+":"+p+"/", tunnel)
			sess.Close()
			if err != nil || code != 200 || body != "allowed page" {
				t.Errorf("tunnel=%v %s: %d %q %v, want the allowed page", tunnel, h, code, body, err)
			}
		}
	}
	if !strings.Contains(s.logs.String(), `"event":"egress_blocked"`) || strings.Contains(s.logs.String(), "SECRET") {
		t.Errorf("refusals are not logged as egress_blocked events: %s", s.logs.String())
	}
}

func TestGuardPinsTheCheckedAddress(t *testing.T) {
	s := startServers(t)
	// First answer allowed, every later one the secret address: a rebinding
	// name. Each request resolves once and dials what it checked.
	dns := egresstest.NewResolver(map[string][]string{"rebind.test": {"127.0.0.2", "127.0.0.1"}})
	g := newTestGuard(s, dns, nil)
	sess, _ := g.Open("t")
	defer sess.Close()
	url := "http://rebind.test:" + strconv.Itoa(s.port) + "/"
	if code, body, err := through(sess, url, false); err != nil || code != 200 || body != "allowed page" {
		t.Fatalf("first lookup: %d %q %v", code, body, err)
	}
	for range 3 {
		if code, body, _ := through(sess, url, false); code == 200 || strings.Contains(body, "SECRET") {
			t.Fatalf("after rebinding: %d %q", code, body)
		}
	}
	if s.secret.Load() != 0 {
		t.Fatal("the rebound address was dialed")
	}
	if dns.Asked("rebind.test") < 2 {
		t.Fatal("the name was not looked up again; the test proved nothing")
	}
}

func TestGuardPortsAndBudgets(t *testing.T) {
	s := startServers(t)
	dns := egresstest.NewResolver(map[string][]string{})
	page := "http://127.0.0.2:" + strconv.Itoa(s.port) + "/"

	g := newTestGuard(s, dns, func(c *Config) { c.AllowPorts = []int{443} })
	sess, _ := g.Open("t")
	if code, _, _ := through(sess, page, false); code != http.StatusForbidden {
		t.Errorf("a port outside EGRESS_ALLOW_PORTS got %d", code)
	}
	sess.Close()

	g = newTestGuard(s, dns, func(c *Config) { c.MaxConns = 2 })
	sess, _ = g.Open("t")
	var codes []int
	for range 4 {
		code, _, _ := through(sess, page, false)
		codes = append(codes, code)
	}
	sess.Close()
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusForbidden || codes[3] != http.StatusForbidden {
		t.Errorf("connection budget of 2: got %v", codes)
	}

	g = newTestGuard(s, dns, func(c *Config) { c.MaxBytes = 100 })
	sess, _ = g.Open("t")
	code, body, err := through(sess, page, false)
	sess.Close()
	if err == nil && code == 200 && body == "allowed page" {
		t.Error("a 100-byte budget let a whole response through")
	}
	if sess.Stats().Blocked == 0 || !strings.Contains(s.logs.String(), "byte budget") {
		t.Error("the exhausted byte budget was not logged")
	}
}

func TestGuardTunnelsTLS(t *testing.T) {
	// CONNECT carries TLS end to end: the browser checks the certificate.
	s := startServers(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tls page") }))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dns := egresstest.NewResolver(map[string][]string{})
	g := newTestGuard(s, dns, func(c *Config) { c.AllowPorts = []int{port} })
	sess, _ := g.Open("t")
	defer sess.Close()
	pu, _ := url.Parse(sess.ProxyURL())
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test server
	resp, err := c.Get("https://127.0.0.2:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "tls page" {
		t.Fatalf("got %q", b)
	}
	if st := sess.Stats(); st.Conns != 1 || st.Bytes == 0 {
		t.Fatalf("stats %+v", st)
	}
}
