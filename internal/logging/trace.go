package logging

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// WithTrace returns log with the fields Cloud Logging joins to a trace on
// every line logged with a context that holds a span: the trace (as
// projects/P/traces/T), the span and whether it was sampled. Without a
// project the fields are left out (Cloud Logging reads only the full name).
func WithTrace(log *slog.Logger, project string) *slog.Logger {
	if project == "" {
		return log
	}
	return slog.New(traceHandler{Handler: log.Handler(), prefix: "projects/" + project + "/traces/"})
}

type traceHandler struct {
	slog.Handler
	prefix string
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("logging.googleapis.com/trace", h.prefix+sc.TraceID().String()),
			slog.String("logging.googleapis.com/spanId", sc.SpanID().String()),
			slog.Bool("logging.googleapis.com/trace_sampled", sc.IsSampled()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{Handler: h.Handler.WithAttrs(as), prefix: h.prefix}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{Handler: h.Handler.WithGroup(name), prefix: h.prefix}
}
