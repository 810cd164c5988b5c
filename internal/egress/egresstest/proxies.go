package egresstest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"

	socks5 "github.com/armon/go-socks5"
	"github.com/elazarl/goproxy"
)

// ProxyOptions shape a forward proxy for tests.
type ProxyOptions struct {
	Listen         string            // e.g. 127.0.0.3:0
	User, Password string            // credentials it requires; none if User is ""
	Source         string            // the address its own connections come from, e.g. 127.0.0.4
	Hosts          map[string]string // its own name resolution; other names fail
	TLS            *tls.Config       // serve https:// (HTTP proxy only)
}

// ForwardProxy is a real proxy on loopback (goproxy for HTTP CONNECT,
// go-socks5 for SOCKS5) that records each tunnel it was asked for.
type ForwardProxy struct {
	URL  string // scheme://[user:password@]host:port
	Addr string

	ln      net.Listener
	mu      sync.Mutex
	targets []string
	denied  int
}

// Targets are the host:port each tunnel named, in order.
func (p *ForwardProxy) Targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// Denied is how many requests came with wrong or no credentials.
func (p *ForwardProxy) Denied() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.denied
}

// Close stops it.
func (p *ForwardProxy) Close() { p.ln.Close() }

func (p *ForwardProxy) record(target string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		p.targets = append(p.targets, target)
	} else {
		p.denied++
	}
}

func newForward(scheme string, o ProxyOptions) (*ForwardProxy, error) {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, err
	}
	if o.TLS != nil {
		ln, scheme = tls.NewListener(ln, o.TLS), "https"
	}
	u := url.URL{Scheme: scheme, Host: ln.Addr().String()}
	if o.User != "" {
		u.User = url.UserPassword(o.User, o.Password)
	}
	return &ForwardProxy{URL: u.String(), Addr: ln.Addr().String(), ln: ln}, nil
}

// dialer connects from o.Source, resolving names only from o.Hosts.
func (o ProxyOptions) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip, ok := o.Hosts[host]; ok {
		host = ip
	} else if net.ParseIP(host) == nil {
		return nil, errors.New("no such host")
	}
	d := net.Dialer{}
	if o.Source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.Source)}
	}
	return d.DialContext(ctx, network, net.JoinHostPort(host, port))
}

// StartHTTPProxy serves CONNECT (and plain requests) with goproxy. Wrong
// or missing credentials get a 407.
func StartHTTPProxy(o ProxyOptions) (*ForwardProxy, error) {
	p, err := newForward("http", o)
	if err != nil {
		return nil, err
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(o.User+":"+o.Password))
	authorized := func(r *http.Request) bool {
		return o.User == "" || r.Header.Get("Proxy-Authorization") == want
	}
	gp := goproxy.NewProxyHttpServer()
	gp.Logger = log.New(io.Discard, "", 0)
	gp.Tr = &http.Transport{DialContext: o.dial}
	gp.ConnectDialWithReq = func(r *http.Request, network, addr string) (net.Conn, error) {
		return o.dial(r.Context(), network, addr)
	}
	gp.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		if !authorized(ctx.Req) {
			p.record(host, false)
			return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(_ *http.Request, c net.Conn, _ *goproxy.ProxyCtx) {
				io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
				c.Close()
			}}, host
		}
		p.record(host, true)
		return goproxy.OkConnect, host
	})
	gp.OnRequest().DoFunc(func(r *http.Request, _ *goproxy.ProxyCtx) (*http.Request, *http.Response) {
		if !authorized(r) {
			p.record(r.Host, false)
			return r, goproxy.NewResponse(r, "text/plain", http.StatusProxyAuthRequired, "")
		}
		p.record(r.Host, true)
		return r, nil
	})
	go http.Serve(p.ln, gp) //nolint:errcheck // ends with Close
	return p, nil
}

// StartSOCKS5Proxy serves SOCKS5 with go-socks5, resolving names itself.
func StartSOCKS5Proxy(o ProxyOptions) (*ForwardProxy, error) {
	p, err := newForward("socks5", o)
	if err != nil {
		return nil, err
	}
	cfg := &socks5.Config{
		Logger:   log.New(io.Discard, "", 0),
		Dial:     o.dial,
		Resolver: named{o.Hosts},
		Rules:    recordRule{p},
	}
	if o.User != "" {
		cfg.Credentials = checked{p, o.User, o.Password}
		cfg.AuthMethods = []socks5.Authenticator{socks5.UserPassAuthenticator{Credentials: cfg.Credentials}}
	}
	srv, err := socks5.New(cfg)
	if err != nil {
		p.ln.Close()
		return nil, err
	}
	go srv.Serve(p.ln) //nolint:errcheck // ends with Close
	return p, nil
}

// named resolves from a table; the name is what the client sent.
type named struct{ hosts map[string]string }

func (n named) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	if ip, ok := n.hosts[name]; ok {
		return ctx, net.ParseIP(ip), nil
	}
	return ctx, nil, errors.New("no such host")
}

// recordRule records each CONNECT by the name the client gave.
type recordRule struct{ p *ForwardProxy }

func (r recordRule) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	target := req.DestAddr.FQDN
	if target == "" {
		target = req.DestAddr.IP.String()
	}
	r.p.record(net.JoinHostPort(target, strconv.Itoa(req.DestAddr.Port)), true)
	return ctx, req.Command == socks5.ConnectCommand
}

// checked counts the credentials a SOCKS client got wrong.
type checked struct {
	p              *ForwardProxy
	user, password string
}

func (c checked) Valid(user, password string) bool {
	ok := user == c.user && password == c.password
	if !ok {
		c.p.record("", false)
	}
	return ok
}

// Proxy starts a proxy of kind (http or socks5) for a test, on 127.0.0.3
// unless o.Listen says otherwise, and stops it at the test's end.
func Proxy(t testing.TB, kind string, o ProxyOptions) *ForwardProxy {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.3:0"
	}
	start := StartHTTPProxy
	if kind == "socks5" {
		start = StartSOCKS5Proxy
	}
	p, err := start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
