package server

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
)

var noTracer = noop.NewTracerProvider().Tracer("")

func (s *Server) tracer() trace.Tracer {
	if s.Tracer == nil {
		return noTracer
	}
	return s.Tracer
}

// startSpan opens the request's span, continuing the caller's trace (the
// load balancer's traceparent or X-Cloud-Trace-Context).
func (s *Server) startSpan(r *http.Request) (*http.Request, trace.Span) {
	ctx := telemetry.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer().Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	return r.WithContext(ctx), span
}

// endRequest names the span after the route ServeMux matched, ends it, and
// writes the request's log line.
func (s *Server) endRequest(span trace.Span, w *recorder, r *http.Request, start time.Time) {
	if r.Pattern != "" {
		span.SetName(r.Pattern)
		span.SetAttributes(attribute.String("http.route", r.Pattern))
	}
	span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.Int("http.response.status_code", w.status))
	if w.status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(w.status))
	}
	span.End()
	s.logRequest(w, r, start)
}

// logRequest writes one line per request in the shape Cloud Logging reads
// from stdout: an httpRequest object, and (through the logger) the
// request's trace, so the line groups under the load balancer's request in
// the console. The URL is logged without its query: signatures and capture
// options stay out of the log.
func (s *Server) logRequest(w *recorder, r *http.Request, start time.Time) {
	s.Logger.InfoContext(r.Context(), "request", slog.Group("httpRequest",
		"requestMethod", r.Method,
		"requestUrl", r.URL.Path,
		"status", w.status,
		"responseSize", strconv.FormatInt(w.bytes, 10),
		"latency", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 3, 64)+"s",
		"remoteIp", s.callerIP(r),
		"userAgent", r.UserAgent(),
	))
}

// metricsPage serves the Prometheus page to a bearer of METRICS_TOKEN only:
// it names every client of the service.
func (s *Server) metricsPage(w http.ResponseWriter, r *http.Request) {
	tok, err := auth.Bearer(r)
	switch {
	case errors.Is(err, auth.ErrMissing):
		apierror.Write(w, apierror.New(http.StatusUnauthorized, apierror.Authentication, "a bearer token (METRICS_TOKEN) is required"))
	case err != nil || subtle.ConstantTimeCompare([]byte(tok), []byte(s.MetricsToken)) != 1:
		s.Metrics.AuthFailed(r.Context(), "metrics_token", "")
		apierror.Write(w, apierror.New(http.StatusForbidden, apierror.Authentication, "the token is not valid"))
	default:
		s.MetricsPage.ServeHTTP(w, r)
	}
}
