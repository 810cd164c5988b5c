package server

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/pixashot/pixashot-cloudrun/internal/audit"
)

// recorder notes the status and size of a response for the audit entry.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type auditKey struct{}

// auditEntry is the request's entry, for handlers to add the target to.
func auditEntry(ctx context.Context) *audit.Entry {
	if e, ok := ctx.Value(auditKey{}).(*audit.Entry); ok {
		return e
	}
	return &audit.Entry{}
}

// callerIP is the client's address. X-Forwarded-For is read only as far as
// TRUSTED_PROXY_HOPS trusted proxies wrote it: each appends the address it
// was reached from, so behind Google's load balancer (1 hop) the last entry
// is the balancer and the one before it the client. Anything earlier was
// sent by the client and proves nothing; with 0 hops (local) the header is
// ignored.
func (s *Server) callerIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" && s.TrustedHops > 0 {
		parts := strings.Split(xff, ",")
		if i := len(parts) - 1 - s.TrustedHops; i >= 0 {
			if ip := strings.TrimSpace(parts[i]); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func outcome(status int) string {
	switch {
	case status == 0:
		return "abandoned" // the client left before an answer was written
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "denied"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status >= 400:
		return "failed"
	}
	return "allowed"
}
