package server

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// measure counts an answered capture: its outcome (ok or the error type),
// its size, the time spent writing the answer (encode) and, once it reached
// a slot, its whole time.
func (s *Server) measure(ctx context.Context, o *options.Options, out captureOutcome, start time.Time, encode time.Duration) {
	if s.Metrics == nil {
		return
	}
	outcome, format := "ok", "none"
	if o != nil {
		format = o.Format
	}
	if out.err != nil {
		outcome = answer(out.err).Type
	}
	s.Metrics.Capture(ctx, outcome, format, principal(ctx).Client, len(out.data))
	if out.err == nil && encode > 0 {
		s.Metrics.Phase(ctx, "encode", encode)
	}
	if out.id != "" {
		s.Metrics.Phase(ctx, "total", time.Since(start))
	}
}

// phases turns a capture's steps into the phases' times and child spans of
// ctx's (drawn after the fact, at the times they ran).
func (s *Server) phases(ctx context.Context, steps []capture.Step) {
	sums := map[string]time.Duration{}
	for _, st := range steps {
		sums[st.Phase] += st.End.Sub(st.Start)
		_, span := s.tracer().Start(ctx, st.Phase, trace.WithTimestamp(st.Start))
		span.End(trace.WithTimestamp(st.End))
	}
	for phase, d := range sums {
		s.Metrics.Phase(ctx, phase, d)
	}
}

// refused counts a capture the gate turned away.
func (s *Server) refused(ctx context.Context, err error) {
	switch {
	case errors.Is(err, admission.ErrOverloaded):
		s.Metrics.AdmissionRefused(ctx, "overloaded")
	case errors.Is(err, admission.ErrClientBusy):
		s.Metrics.AdmissionRefused(ctx, "client_share")
	}
	trace.SpanFromContext(ctx).SetStatus(codes.Error, err.Error())
}
