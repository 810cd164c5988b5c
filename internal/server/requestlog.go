package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// logRequest writes one line per request in the shape Cloud Logging reads
// from stdout: an httpRequest object and the request's trace, so the line
// groups under the load balancer's request in the console. The URL is logged
// without its query: signatures and capture options stay out of the log.
func (s *Server) logRequest(w *recorder, r *http.Request, start time.Time) {
	attrs := []any{
		slog.Group("httpRequest",
			"requestMethod", r.Method,
			"requestUrl", r.URL.Path,
			"status", w.status,
			"responseSize", strconv.FormatInt(w.bytes, 10),
			"latency", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 3, 64)+"s",
			"remoteIp", s.callerIP(r),
			"userAgent", r.UserAgent(),
		),
	}
	if trace := traceID(r.Header.Get("X-Cloud-Trace-Context")); trace != "" && s.Project != "" {
		attrs = append(attrs, "logging.googleapis.com/trace", "projects/"+s.Project+"/traces/"+trace)
	}
	s.Logger.Info("request", attrs...)
}

// traceID is the trace part of "TRACE_ID/SPAN_ID;o=OPTIONS".
func traceID(h string) string {
	id, _, _ := strings.Cut(h, "/")
	if len(id) != 32 || strings.Trim(id, "0123456789abcdefABCDEF") != "" {
		return ""
	}
	return id
}
