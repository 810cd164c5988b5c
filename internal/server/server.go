// Package server is the HTTP face of the service: routing, authentication,
// admission, and turning captures and errors into responses.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pixashot/pixashot-cloudrun/internal/agent"
	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/audit"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
)

// Server serves every route of the contract.
type Server struct {
	Auth         auth.Authenticator
	Signer       *signing.Signer   // nil: signed URLs are off
	Store        Storage           // stored captures and the capture cache
	Files        FileLinks         // the local store's links; nil with a bucket
	Limiter      ratelimit.Allower // per-client limit
	Audit        audit.Sink
	Async        *Async    // nil: no asynchronous captures
	Monitors     *Monitors // nil: no monitors (they need Async)
	Engine       Capturer
	Gate         Admitter
	Ready        func(context.Context) bool
	Live         func() bool // nil: alive while the process serves
	Limits       options.Limits
	Timeout      time.Duration // CAPTURE_TIMEOUT
	MaxBodyBytes int64
	Logger       *slog.Logger
	TrustedHops  int // proxies in front whose X-Forwarded-For entries are believed
	Metrics      *telemetry.Metrics
	Tracer       trace.Tracer  // nil: spans only carry the caller's trace ids
	MetricsPage  http.Handler  // GET /metrics (METRICS_EXPORTER=prometheus); nil: no such route
	MetricsToken string        // the bearer MetricsPage asks for
	Agents       *agent.Config // POST /mcp, the MCP server; nil: none

	mux *http.ServeMux
}

// Handler returns the root handler with the security headers and panic guard.
func (s *Server) Handler() http.Handler {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /capture", s.authed(s.postCapture))
	s.mux.HandleFunc("GET /capture", s.authed(s.getCapture))
	s.mux.HandleFunc("POST /sign", s.authed(s.postSign))
	if s.Async != nil {
		s.mux.HandleFunc("POST /captures", s.authed(s.postCaptures))
		s.mux.HandleFunc("GET /batches/{id}", s.authed(s.getBatch))
		if s.Async.Tasks != nil {
			s.mux.HandleFunc("POST "+TasksPath, s.Async.Tasks.serve)
		}
		if s.Monitors != nil {
			s.mux.HandleFunc("POST /monitors", s.authed(s.postMonitor))
			s.mux.HandleFunc("GET /monitors", s.authed(s.listMonitors))
			s.mux.HandleFunc("GET /monitors/{id}", s.authed(s.getMonitor))
			s.mux.HandleFunc("DELETE /monitors/{id}", s.authed(s.deleteMonitor))
			if s.Monitors.Verify != nil {
				s.mux.HandleFunc("POST "+MonitorPath, s.serveScheduled)
			}
		}
	}
	s.mux.HandleFunc("GET /captures/{id}", s.authed(s.getStored))
	s.mux.HandleFunc("DELETE /captures/{id}", s.authed(s.deleteStored))
	if s.Files != nil {
		s.mux.HandleFunc("GET "+store.FilesPath+"{client}/{id}", s.getFile)
	}
	s.mux.HandleFunc("GET /openapi.json", s.openAPI())
	s.mux.HandleFunc("GET /{$}", s.playground)
	s.mux.HandleFunc("GET /playground/{file}", s.playground)
	if s.MetricsPage != nil {
		s.mux.HandleFunc("GET /metrics", s.metricsPage)
	}
	if s.Agents != nil {
		// Stateless: any instance answers any call. GET (a server stream)
		// is the SDK's 405 there.
		mcp := agent.Handler(*s.Agents, func(r *http.Request) agent.Door {
			return callerDoor{s: s, ctx: r.Context(), baseURL: baseURL(r)}
		})
		bounded := func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
			mcp.ServeHTTP(w, r)
		}
		s.mux.HandleFunc("POST /mcp", s.authed(bounded))
		s.mux.HandleFunc("GET /mcp", s.authed(bounded))
	}
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /health/live", s.live)
	s.mux.HandleFunc("GET /health/ready", s.ready)
	// Every other method on a known path is a 405 naming the allowed ones.
	// HEAD is refused explicitly: ServeMux would route it to GET, and a
	// HEAD /capture would run a whole capture to send no body.
	allowed := map[string]string{
		"/capture": "GET, POST", "/sign": "POST", "/captures/{id}": "GET, DELETE",
		"/health": "GET", "/health/live": "GET", "/health/ready": "GET", "/openapi.json": "GET", "/{$}": "GET",
		"/playground/{file}": "GET",
	}
	if s.Async != nil {
		allowed["/captures"], allowed["/batches/{id}"] = "POST", "GET"
		if s.Monitors != nil {
			allowed["/monitors"], allowed["/monitors/{id}"] = "GET, POST", "GET, DELETE"
		}
	}
	if s.MetricsPage != nil {
		allowed["/metrics"] = "GET"
	}
	if s.Agents != nil {
		allowed["/mcp"] = "GET, POST"
	}
	for path, allow := range allowed {
		s.mux.HandleFunc("HEAD "+path, methodNotAllowed(allow))
		s.mux.HandleFunc(path, methodNotAllowed(allow))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such endpoint"))
	})
	return s.guard(s.mux)
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, apierror.MethodNotAllowed,
			r.Method+" is not allowed here; use "+allow))
	}
}

// securityHeaders go on every response. The CSP also sandboxes a captured
// HTML document should a browser ever open it from this origin.
var securityHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
	"X-Content-Type-Options":    "nosniff",
	"X-Frame-Options":           "DENY",
	"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox",
	"Referrer-Policy":           "no-referrer",
	"Cache-Control":             "no-store",
}

func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &recorder{ResponseWriter: rw}
		r, span := s.startSpan(r)
		defer s.endRequest(span, w, r, time.Now())
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		defer func() {
			if p := recover(); p != nil {
				s.Logger.ErrorContext(r.Context(), "panic in handler", "panic", p, "stack", string(debug.Stack()), "path", r.URL.Path)
				apierror.Write(w, apierror.New(http.StatusInternalServerError, apierror.Internal, "internal error"))
			}
		}()
		// The framework's server has no timeouts of its own: bound the
		// request read and the whole response here.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(30 * time.Second))
		_ = rc.SetWriteDeadline(time.Now().Add(s.Timeout + 30*time.Second))
		// ServeMux answers these itself in plain text or HTML (a CONNECT, a
		// path it would redirect to its clean form): answer in the format.
		if r.Method == http.MethodConnect {
			apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, apierror.MethodNotAllowed, "CONNECT is not allowed"))
			return
		}
		if !cleanPath(r.URL.EscapedPath()) {
			apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such endpoint"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath reports whether p is a path ServeMux serves as it is, without
// redirecting to a cleaned form.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

type principalKey struct{}

// authed admits a request with a valid bearer token, or a GET /capture with
// a valid signature, then applies the client's rate limit.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		w, ok := rw.(*recorder) // guard's, which already counts the response
		if !ok {
			w = &recorder{ResponseWriter: rw}
		}
		entry := &audit.Entry{Route: r.Method + " " + r.URL.Path, CallerIP: s.callerIP(r)}
		defer func() {
			entry.Status, entry.Bytes, entry.Outcome = w.status, w.bytes, outcome(w.status)
			s.Audit.Write(*entry)
		}()
		p, err := s.identify(r)
		if err != nil {
			entry.Reason = authReason(err)
			s.Metrics.AuthFailed(r.Context(), entry.Reason, p.Client)
			s.Logger.WarnContext(r.Context(), "authentication failed", "event", "auth_failure", "reason", entry.Reason, "path", r.URL.Path)
			apierror.Write(w, err)
			return
		}
		entry.Client, entry.KeyVersion = p.Client, p.Version
		if s.Limiter != nil && s.Limiter.Enabled() {
			d := s.Limiter.Allow(p.Client)
			rateHeaders(w, d.Limit, d.Remaining, d.Reset)
			if !d.Allowed {
				s.Metrics.RateLimited(r.Context(), p.Client)
				apierror.Write(w, &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.RateLimit,
					Message: "rate limit exceeded", RetryAfter: d.RetryAfter})
				return
			}
		}
		ctx := context.WithValue(context.WithValue(r.Context(), principalKey{}, p), auditKey{}, entry)
		h(w, r.WithContext(ctx))
	}
}

// identify finds the client of a request. The error is a client error whose
// message says what was wrong without saying which token came close.
func (s *Server) identify(r *http.Request) (auth.Principal, error) {
	// A signature grants one capture request, not an identity: it is read
	// on GET /capture only (it does not cover the path).
	if r.Method == http.MethodGet && r.URL.Path == "/capture" && r.URL.Query().Has("signature") {
		p, rest, err := s.verifySigned(r.URL.Query())
		if err == nil {
			r.URL.RawQuery = rest.Encode()
		}
		return p, err
	}
	tok, err := auth.Bearer(r)
	var p auth.Principal
	if err == nil {
		if p, err = s.Auth.Authenticate(tok); err == nil {
			return p, nil
		}
	}
	if errors.Is(err, auth.ErrMissing) {
		return auth.Principal{}, &apierror.Error{Status: http.StatusUnauthorized, Type: apierror.Authentication,
			Message: "a bearer token or a signed URL is required", Cause: err}
	}
	// An expired key's client is returned with the error: it is counted,
	// never admitted.
	return p, &apierror.Error{Status: http.StatusForbidden, Type: apierror.Authentication,
		Message: "the token is not valid", Cause: err}
}

// authReason is the log's word for a failure, for a log-based metric.
func authReason(err error) string {
	switch {
	case errors.Is(err, auth.ErrMissing):
		return "missing"
	case errors.Is(err, auth.ErrExpired):
		return "expired"
	case errors.Is(err, auth.ErrInvalid):
		return "unknown_token"
	}
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae.Type
	}
	return "other"
}

func principal(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
