// Package egress is the only way the browser reaches the network: an in-process
// forward proxy that resolves names itself, refuses every address that is not
// public unicast (unless an operator allowed its range), and dials only the
// address it checked, so DNS rebinding cannot slip between check and use.
package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
)

// Resolver is the part of net.Resolver the guard uses; tests inject their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config is the policy of a Guard.
type Config struct {
	AllowCIDRs []netip.Prefix // non-public ranges opened by the operator (EGRESS_ALLOW_CIDRS)
	AllowPorts []int          // destination ports; default 80 and 443
	Resolver   Resolver       // default net.DefaultResolver
	Logger     *slog.Logger
	Metrics    *telemetry.Metrics // counts refusals by class
	// DialTimeout bounds one lookup plus connect.
	DialTimeout time.Duration
	// MaxBytes and MaxConns are the budgets of one session (one capture).
	MaxBytes int64
	MaxConns int64
	// Upstream is the operator's proxy (UPSTREAM_PROXY): every connection
	// goes through it after the checks, its targets named by the address
	// checked, so it cannot resolve them to another.
	Upstream *Proxy
	// Chaining lets a client's proxy ride behind the upstream
	// (PROXY_CHAINING); off, a client's proxy is refused while there is one.
	Chaining bool
	// ProxyRoots are the CAs an https proxy is checked against; nil: the system's.
	ProxyRoots *x509.CertPool
}

// Guard holds the policy; each capture opens its own Session.
type Guard struct {
	cfg   Config
	ports map[int]bool
}

// The defaults of a session's limits; config reads them from here, so they
// are written once.
const (
	DefaultMaxBytes = 128 << 20
	DefaultMaxConns = 256
)

// DefaultPorts are the destination ports a page may reach by default.
func DefaultPorts() []int { return []int{80, 443} }

// New returns a guard with defaults filled in.
func New(cfg Config) *Guard {
	if len(cfg.AllowPorts) == 0 {
		cfg.AllowPorts = DefaultPorts()
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Upstream != nil {
		up := *cfg.Upstream
		up.upstream = true
		cfg.Upstream = &up
	}
	g := &Guard{cfg: cfg, ports: map[int]bool{}}
	for _, p := range cfg.AllowPorts {
		g.ports[p] = true
	}
	return g
}

// Refusal is why a destination was refused. Its text is for logs only: a client
// sees a generic message, or the error would become a port scanner.
type Refusal struct {
	Host, Reason string
	// Class is the metric's word for it: loopback, private, link_local,
	// metadata, reserved, name, dns, port, scheme, network, bad_address,
	// budget.
	Class string
	// Proxy: the refused address is the client's proxy, not a target.
	Proxy bool
}

func (r *Refusal) Error() string { return "egress refused: " + r.Reason }

// ErrRefused matches every *Refusal with errors.Is.
var ErrRefused = errors.New("egress refused")

func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// allowed reports whether the browser may connect to a.
func (g *Guard) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.cfg.AllowCIDRs {
		if p.Contains(a) {
			return true
		}
	}
	return IsPublic(a)
}

// resolve turns host into the addresses that may be dialed, or a refusal. A name
// is refused if any of its answers is refused: keeping only the good answers
// would let a name that mixes public and private answers probe the inside.
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return nil, &Refusal{Host: host, Reason: "empty host", Class: "bad_address"}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !g.allowed(a) {
			return nil, &Refusal{Host: host, Reason: "address not public", Class: AddrClass(a)}
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	if blockedName(host) {
		return nil, &Refusal{Host: host, Reason: "name refused", Class: nameClass(host)}
	}
	addrs, err := g.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, &Refusal{Host: host, Reason: "name does not resolve", Class: "dns"}
	}
	for i, a := range addrs {
		if !g.allowed(a) {
			return nil, &Refusal{Host: host, Reason: "name resolves to a non-public address", Class: AddrClass(a)}
		}
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// CheckAddress reports whether host:port may be reached at all, resolving
// a name: an early answer for a URL the service will dial later (a
// webhook), which dialing checks again.
func (g *Guard) CheckAddress(ctx context.Context, host string, port int) error {
	if !g.ports[port] {
		return &Refusal{Host: host, Reason: "port not allowed", Class: "port"}
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()
	_, err := g.resolve(ctx, host)
	return err
}

// ErrNoChaining is a client's proxy where the operator's upstream takes
// every connection and PROXY_CHAINING is off.
var ErrNoChaining = errors.New("egress: the upstream proxy does not chain client proxies")

// CheckProxy reports whether the client's proxy may be reached: its host
// under the same policy as a page's (any port: a proxy's port is its own).
// Dialing checks it again, and pins the address it checked.
func (g *Guard) CheckProxy(ctx context.Context, p *Proxy) error {
	if g.cfg.Upstream != nil && !g.cfg.Chaining {
		return ErrNoChaining
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()
	_, err := g.resolve(ctx, p.Host)
	return err
}

// DialContext dials like a net.Dialer, under the policy: what the service
// itself sends on a client's word (webhooks) goes out the way pages do.
func (g *Guard) DialContext(ctx context.Context, network, hostport string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		g.cfg.Metrics.EgressRefused("network", "")
		return nil, &Refusal{Host: hostport, Reason: "network not allowed", Class: "network"}
	}
	c, err := g.dial(ctx, hostport, nil)
	var r *Refusal
	if errors.As(err, &r) {
		g.cfg.Metrics.EgressRefused(r.Class, "")
		g.cfg.Logger.Warn("egress blocked", "event", "egress_blocked", "host", r.Host, "reason", r.Reason, "session", "webhook")
	}
	return c, err
}

// dial connects to hostport after the checks. Through the client's proxy
// (via), the target keeps its name and port check and the proxy decides the
// rest; the proxy's own address is what is resolved, checked and pinned.
func (g *Guard) dial(ctx context.Context, hostport string, via *Proxy) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, &Refusal{Host: hostport, Reason: "bad address", Class: "bad_address"}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || !g.ports[port] {
		return nil, &Refusal{Host: host, Reason: "port not allowed", Class: "port"}
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()
	if via == nil {
		return g.open(ctx, host, port)
	}
	c, err := g.reach(ctx, via)
	if err != nil {
		return nil, err
	}
	return via.through(ctx, c, hostport, g.cfg.ProxyRoots)
}

// reach connects to the client's proxy itself: its address resolved,
// checked and pinned like a page's, through the upstream if there is one,
// within one dial's time.
func (g *Guard) reach(ctx context.Context, via *Proxy) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()
	c, err := g.open(ctx, via.Host, via.Port)
	var r *Refusal
	var pe *ProxyError
	switch {
	case errors.As(err, &r):
		r.Proxy = true
		return nil, r
	case errors.As(err, &pe) && pe.Target:
		// The upstream could not reach the client's proxy: the proxy's failure.
		return nil, via.fail("could not be reached through the upstream proxy")
	case errors.As(err, &pe):
		return nil, err // the upstream's own failure, on the way to the client's proxy
	case err != nil:
		return nil, via.reachErr(err)
	}
	return c, nil
}

// open connects to host:port once the name is resolved and every answer
// checked: directly, or through the upstream, named by the checked address.
// The socket's own address is checked once more just before connect, the
// last word against any path that could hand the dialer an address this
// function did not check.
func (g *Guard) open(ctx context.Context, host string, port int) (net.Conn, error) {
	addrs, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var last error
	if up := g.cfg.Upstream; up != nil {
		for _, a := range addrs {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", up.addr())
			if err != nil {
				return nil, up.reachErr(err)
			}
			t, err := up.through(ctx, c, netip.AddrPortFrom(a, uint16(port)).String(), g.cfg.ProxyRoots)
			if err == nil {
				return t, nil
			}
			last = err
		}
		return nil, last
	}
	d := net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !g.allowed(ap.Addr()) {
			return &Refusal{Host: host, Reason: "address not public at connect", Class: AddrClass(ap.Addr())}
		}
		return nil
	}}
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, fmt.Errorf("dial %s: %w", host, last)
}
