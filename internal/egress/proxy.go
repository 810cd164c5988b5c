package egress

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	xproxy "golang.org/x/net/proxy"
)

// Proxy is one hop a connection is tunnelled through: a client's own proxy
// (the proxy option) or the operator's upstream (UPSTREAM_PROXY). Its
// credentials live only here, in memory; String never shows them.
type Proxy struct {
	Scheme   string // http, https, socks5
	Host     string // a name or an address, without brackets
	Port     int
	user     *url.Userinfo
	upstream bool // the operator's: it names the failure in messages
}

// MaxProxyLength bounds a proxy URL.
const MaxProxyLength = 2048

// defaultProxyPorts are the usual ports when a proxy URL names none.
var defaultProxyPorts = map[string]int{"http": 80, "https": 443, "socks5": 1080}

// ParseProxy reads a proxy URL: http://, https:// or socks5://, an optional
// user:password@, a host and a port, nothing else. Its error never repeats
// the input, which may hold a password.
func ParseProxy(raw string) (*Proxy, error) {
	if len(raw) > MaxProxyLength {
		return nil, errors.New("is longer than " + strconv.Itoa(MaxProxyLength) + " characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if _, ok := defaultProxyPorts[scheme]; !ok {
		return nil, errors.New("must be an http://, https:// or socks5:// URL")
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, errors.New("must be scheme://[user:password@]host:port, without a path, query or fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("has no host")
	}
	port := defaultProxyPorts[scheme]
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, errors.New("has a port outside 1-65535")
		}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		if len(u.User.Username()) > 255 || len(pw) > 255 {
			return nil, errors.New("has a user name or password longer than 255 bytes")
		}
	}
	return &Proxy{Scheme: scheme, Host: host, Port: port, user: u.User}, nil
}

// String is the proxy without its credentials, for logs and messages.
func (p *Proxy) String() string {
	return p.Scheme + "://" + p.addr()
}

// Key identifies the proxy and its credentials without showing them: a
// capture through other credentials may see another page, so the cache
// keys on it, through a digest.
func (p *Proxy) Key() string {
	k := p.String()
	if p.user != nil {
		sum := sha256.Sum256([]byte(p.user.String()))
		k += "#" + hex.EncodeToString(sum[:])
	}
	return k
}

func (p *Proxy) addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

func (p *Proxy) who() string {
	if p.upstream {
		return "the upstream proxy"
	}
	return "the proxy"
}

// ProxyError is a proxy that could not be reached, refused, asked for other
// credentials or did not answer in time. Message says what the proxy said,
// never its credentials.
type ProxyError struct {
	Message  string
	Upstream bool // the operator's proxy, not the client's
	Target   bool // the proxy answered for the target (it cannot reach it)
}

func (e *ProxyError) Error() string { return e.Message }

func (p *Proxy) fail(what string) *ProxyError {
	msg := p.who() + " " + what
	if p.user != nil {
		// The proxy's own words may echo what it was sent.
		pw, _ := p.user.Password()
		for _, secret := range []string{pw, base64.StdEncoding.EncodeToString([]byte(p.user.Username() + ":" + pw))} {
			if len(secret) >= 3 {
				msg = strings.ReplaceAll(msg, secret, "[redacted]")
			}
		}
	}
	return &ProxyError{Message: msg, Upstream: p.upstream}
}

// refusedTarget is the proxy's answer about the target (it cannot reach
// it), not about itself.
func (p *Proxy) refusedTarget(what string) *ProxyError {
	e := p.fail(what)
	e.Target = true
	return e
}

// reachErr is the error of a connection to the proxy itself that failed.
func (p *Proxy) reachErr(err error) *ProxyError {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return p.fail("did not answer in time")
	case errors.Is(err, ErrRefused):
		return p.fail("is at an address the egress policy refuses")
	case errors.Is(err, syscall.ECONNREFUSED):
		return p.fail("refused the connection")
	}
	return p.fail("could not be reached")
}

// through opens a tunnel to target (host:port, as named: the proxy resolves
// it) over conn, a connection to the proxy. It closes conn on failure.
func (p *Proxy) through(ctx context.Context, conn net.Conn, target string, roots *x509.CertPool) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
		defer conn.SetDeadline(time.Time{})
	}
	var (
		out net.Conn
		err error
	)
	switch p.Scheme {
	case "https":
		tc := tls.Client(conn, &tls.Config{ServerName: p.Host, RootCAs: roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
		if err = tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, p.fail("failed its TLS handshake")
		}
		out, err = p.connect(tc, target)
	case "socks5":
		out, err = p.socks(ctx, conn, target)
	default:
		out, err = p.connect(conn, target)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return out, nil
}

// connect asks an HTTP proxy for a tunnel with CONNECT.
func (p *Proxy) connect(conn net.Conn, target string) (net.Conn, error) {
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if p.user != nil {
		pw, _ := p.user.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(p.user.Username()+":"+pw)))
	}
	if err := req.Write(conn); err != nil {
		return nil, p.reachErr(err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, p.fail("did not answer in time")
		}
		return nil, p.fail("closed the connection without an answer")
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusProxyAuthRequired:
		return nil, p.authFailed()
	case resp.StatusCode/100 != 2:
		return nil, p.refusedTarget("answered " + statusLine(resp))
	}
	if br.Buffered() > 0 {
		// Bytes the target sent before the client spoke: keep them.
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// authFailed is a 407: credentials missing or refused.
func (p *Proxy) authFailed() *ProxyError {
	if p.user == nil {
		return p.fail("needs credentials (407 Proxy Authentication Required)")
	}
	return p.fail("refused the credentials (407 Proxy Authentication Required)")
}

// url is the proxy with its credentials, for Go's transport alone.
func (p *Proxy) url() *url.URL {
	return &url.URL{Scheme: p.Scheme, Host: p.addr(), User: p.user}
}

// statusLine is the proxy's status, its reason phrase bounded and printable.
func statusLine(resp *http.Response) string {
	s := resp.Status
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

// socks asks a SOCKS5 proxy for a connection to target, named: the proxy
// resolves it (as socks5h does).
func (p *Proxy) socks(ctx context.Context, conn net.Conn, target string) (net.Conn, error) {
	var auth *xproxy.Auth
	if p.user != nil {
		pw, _ := p.user.Password()
		auth = &xproxy.Auth{User: p.user.Username(), Password: pw}
	}
	d, err := xproxy.SOCKS5("tcp", p.addr(), auth, connDialer{conn})
	if err != nil {
		return nil, p.fail("could not be used")
	}
	c, err := d.(xproxy.ContextDialer).DialContext(ctx, "tcp", target)
	if err != nil {
		// x/net's messages name addresses, never the password; only the
		// part after the last colon is the proxy's own word.
		msg := err.Error()
		switch {
		case strings.Contains(msg, "authentication failed") || strings.Contains(msg, "no acceptable authentication"):
			return nil, p.fail("refused the credentials (SOCKS5)")
		case strings.Contains(msg, "timeout"), errors.Is(err, context.DeadlineExceeded):
			return nil, p.fail("did not answer in time")
		}
		word := msg[strings.LastIndex(msg, ":")+1:]
		return nil, p.refusedTarget("answered (SOCKS5): " + strings.TrimSpace(word))
	}
	return c, nil
}

// connDialer hands x/net's SOCKS client the connection already made (and
// checked) to the proxy, instead of letting it dial one itself.
type connDialer struct{ c net.Conn }

func (d connDialer) Dial(string, string) (net.Conn, error) { return d.c, nil }
func (d connDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	return d.c, nil
}

// bufferedConn reads first what a proxy's answer left in the reader.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
