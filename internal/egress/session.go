package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BlockedHeader marks the answer the proxy gives in place of a refused plain-HTTP
// request, so a capture can tell a refused navigation from a page that says 403.
const BlockedHeader = "X-Pixashot-Egress"

// Session is one proxy listener on loopback, serving one browser context. Its
// budgets and its log lines belong to that capture alone.
type Session struct {
	g       *Guard
	label   atomic.Pointer[string]         // the capture it serves; set again when a warm session is taken
	client  atomic.Pointer[string]         // the client of that capture, for the count of refusals
	proxy   atomic.Pointer[Proxy]          // the client's proxy for this capture, if any
	viaTr   atomic.Pointer[http.Transport] // plain HTTP through an HTTP proxy, in absolute form
	failure atomic.Pointer[ProxyError]
	ln      net.Listener
	srv     *http.Server
	tr      *http.Transport
	ctx     context.Context
	cancel  context.CancelFunc
	bytes   atomic.Int64
	conns   atomic.Int64
	blocked atomic.Int64

	mu      sync.Mutex
	tunnels map[net.Conn]struct{}
	closed  bool
}

// Stats are what a session saw.
type Stats struct {
	Bytes, Conns, Blocked int64
}

// Open starts a session on 127.0.0.1 with a free port. label names the capture
// in log lines.
func (g *Guard) Open(label string) (*Session, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{g: g, ln: ln, ctx: ctx, cancel: cancel, tunnels: map[net.Conn]struct{}{}}
	s.SetLabel(label)
	s.tr = &http.Transport{
		Proxy:                 nil, // never chain to an environment proxy
		DialContext:           func(ctx context.Context, _, addr string) (net.Conn, error) { return s.dial(ctx, addr) },
		DisableCompression:    true, // pass the page's encoding through untouched
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(g.cfg.Logger.Handler(), slog.LevelDebug),
	}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

// SetLabel names the capture the session serves from now on.
func (s *Session) SetLabel(label string) { s.label.Store(&label) }

// SetClient names the client the session serves ("" while it waits warm).
func (s *Session) SetClient(client string) { s.client.Store(&client) }

// SetProxy sends every connection of the session through the client's
// proxy p; set before the first connection.
func (s *Session) SetProxy(p *Proxy) {
	s.proxy.Store(p)
	if p == nil || p.Scheme == "socks5" {
		return
	}
	// Plain http:// requests go to an HTTP proxy as a browser sends them,
	// in absolute form with Proxy-Authorization, not as a CONNECT to port
	// 80, which many proxies (Squid by default) refuse.
	s.viaTr.Store(&http.Transport{
		Proxy:                 http.ProxyURL(p.url()),
		DialContext:           func(ctx context.Context, _, _ string) (net.Conn, error) { return s.reach(ctx, p) },
		TLSClientConfig:       &tls.Config{RootCAs: s.g.cfg.ProxyRoots, MinVersion: tls.VersionTLS12},
		DisableCompression:    true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	})
}

// ProxyFailure is the last failure of a proxy on the way (the client's,
// or the upstream's own), nil if none: a navigation that failed for it is
// the proxy's error, not the target's.
func (s *Session) ProxyFailure() *ProxyError { return s.failure.Load() }

// ProxyURL is the address to give the browser context.
func (s *Session) ProxyURL() string { return "http://" + s.ln.Addr().String() }

// Stats returns the counters so far.
func (s *Session) Stats() Stats {
	return Stats{Bytes: s.bytes.Load(), Conns: s.conns.Load(), Blocked: s.blocked.Load()}
}

// Close stops the listener and cuts every connection the session opened.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.tunnels {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.srv.Close()
	s.tr.CloseIdleConnections()
	if tr := s.viaTr.Load(); tr != nil {
		tr.CloseIdleConnections()
	}
}

// dial applies the connection budget, then the guard's checks, and counts bytes.
func (s *Session) dial(ctx context.Context, hostport string) (net.Conn, error) {
	via := s.proxy.Load()
	return s.connect(hostport, via, func() (net.Conn, error) { return s.g.dial(ctx, hostport, via) })
}

// reach connects to the client's proxy itself (plain HTTP in absolute
// form), under the same budget and bookkeeping.
func (s *Session) reach(ctx context.Context, via *Proxy) (net.Conn, error) {
	return s.connect(via.Host, via, func() (net.Conn, error) { return s.g.reach(ctx, via) })
}

// connect charges one connection to the session's budget, opens it, keeps
// a refusal or a proxy's failure for the capture, and counts its bytes.
func (s *Session) connect(host string, via *Proxy, open func() (net.Conn, error)) (net.Conn, error) {
	if s.conns.Add(1) > s.g.cfg.MaxConns {
		return nil, s.refuse(&Refusal{Host: host, Reason: "connection budget exhausted", Class: "budget"})
	}
	c, err := open()
	if err != nil {
		return nil, s.dialFailed(via, err)
	}
	return &countingConn{Conn: c, s: s}, nil
}

// dialFailed counts a refusal and keeps a proxy's failure, then returns err.
func (s *Session) dialFailed(via *Proxy, err error) error {
	var r *Refusal
	var pe *ProxyError
	switch {
	case errors.As(err, &r):
		if r.Proxy {
			s.failed(via.fail("is at an address the egress policy refuses"))
		}
		return s.refuse(r)
	case errors.As(err, &pe):
		// An upstream that cannot reach a target it was named is the
		// target's failure; anything else is a proxy's.
		if !pe.Upstream || !pe.Target {
			s.failed(pe)
		}
	}
	return err
}

// refuse counts and logs a refusal as a structured event an alert can count.
func (s *Session) refuse(r *Refusal) error {
	s.blocked.Add(1)
	client := ""
	if c := s.client.Load(); c != nil {
		client = *c
	}
	s.g.cfg.Metrics.EgressRefused(r.Class, client)
	s.g.cfg.Logger.Warn("egress blocked", "event", "egress_blocked", "host", r.Host, "reason", r.Reason, "capture", *s.label.Load())
	return r
}

// failed keeps a proxy's failure for the capture, and logs it: the message
// names the proxy without its credentials.
func (s *Session) failed(pe *ProxyError) {
	s.failure.Store(pe)
	s.g.cfg.Logger.Warn("proxy failed", "event", "proxy_failed", "reason", pe.Message, "upstream", pe.Upstream, "capture", *s.label.Load())
}

func (s *Session) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.tunnels[c] = struct{}{}
	return true
}

func (s *Session) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.tunnels, c)
	s.mu.Unlock()
}

// ServeHTTP handles CONNECT tunnels and absolute-form requests; anything else
// (an origin-form request to the proxy itself) is refused.
func (s *Session) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		s.tunnel(w, r)
	case r.URL.IsAbs() && r.URL.Scheme == "http":
		s.forward(w, r)
	default:
		s.refuse(&Refusal{Host: r.Host, Reason: "not a proxy request", Class: "scheme"})
		blockedResponse(w)
	}
}

func blockedResponse(w http.ResponseWriter) {
	w.Header().Set(BlockedHeader, "blocked")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusForbidden)
}

func (s *Session) tunnel(w http.ResponseWriter, r *http.Request) {
	up, err := s.dial(r.Context(), r.Host)
	if err != nil {
		// Chrome turns any non-2xx answer to CONNECT into a failed request.
		http.Error(w, "", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !s.track(down) || !s.track(up) {
		down.Close()
		up.Close()
		return
	}
	defer func() {
		s.untrack(down)
		s.untrack(up)
		down.Close()
		up.Close()
	}()
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the browser sent after the CONNECT head are already buffered.
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			if _, err := up.Write(b); err != nil {
				done <- struct{}{}
				return
			}
		}
		io.Copy(up, down)
		closeWrite(up)
		done <- struct{}{}
	}()
	go func() {
		io.Copy(down, up)
		closeWrite(down)
		done <- struct{}{}
	}()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	type cw interface{ CloseWrite() error }
	if c, ok := c.(cw); ok {
		c.CloseWrite()
		return
	}
	if c, ok := c.(*countingConn); ok {
		closeWrite(c.Conn)
	}
}

// hopHeaders are meaningful for one connection only and are never forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func stripHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// forward proxies one plain-HTTP request. Redirects are passed back to the
// browser, which asks again, so every hop meets the same checks.
func (s *Session) forward(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(s.ctx)
	out.RequestURI = ""
	stripHop(out.Header)
	if r.ContentLength == 0 {
		out.Body = nil
	}
	tr := s.tr
	if via := s.viaTr.Load(); via != nil {
		// The proxy dials the target: its port is held to the list here.
		port := out.URL.Port()
		if port == "" {
			port = "80"
		}
		if n, err := strconv.Atoi(port); err != nil || !s.g.ports[n] {
			s.refuse(&Refusal{Host: out.URL.Hostname(), Reason: "port not allowed", Class: "port"})
			blockedResponse(w)
			return
		}
		tr = via
	}
	resp, err := tr.RoundTrip(out)
	if err == nil && resp.StatusCode == http.StatusProxyAuthRequired && tr != s.tr {
		resp.Body.Close()
		p := s.proxy.Load()
		s.failed(p.authFailed())
		err = p.authFailed()
	}
	if err != nil {
		if errors.Is(err, ErrRefused) {
			blockedResponse(w)
			return
		}
		// A target that cannot be reached (connection refused, reset, DNS)
		// fails a navigation as a refusal does, and as a failed CONNECT does
		// over https: the marker tells the capture it is not the target's page.
		w.Header().Set(BlockedHeader, "unreachable")
		http.Error(w, "", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	stripHop(resp.Header)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// countingConn charges every byte to the session and cuts the connection when
// the budget is spent.
type countingConn struct {
	net.Conn
	s *Session
}

var errBudget = errors.New("egress byte budget exhausted")

func (c *countingConn) charge(n int) error {
	if c.s.bytes.Add(int64(n)) > c.s.g.cfg.MaxBytes {
		c.s.refuse(&Refusal{Host: c.RemoteAddr().String(), Reason: "byte budget exhausted", Class: "budget"})
		c.Conn.Close()
		return errBudget
	}
	return nil
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if berr := c.charge(n); berr != nil {
			return n, berr
		}
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	if err := c.charge(len(p)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
