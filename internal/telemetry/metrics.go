package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics are the service's instruments: the names of the contract. A nil
// *Metrics records nothing, at the cost of a nil check: an instance with no
// exporter pays nothing more.
//
// Labels stay low-cardinality: a client id, a format, a reason or a class,
// never a URL, a host, a token or a request id.
type Metrics struct {
	captures          metric.Int64Counter
	duration          metric.Float64Histogram
	bytes             metric.Int64Histogram
	admissionRefused  metric.Int64Counter
	jobsAge           metric.Float64Histogram
	webhookDeliveries metric.Int64Counter
	browserRestarts   metric.Int64Counter
	rendererKilled    metric.Int64Counter
	egressRefused     metric.Int64Counter
	authFailures      metric.Int64Counter
	rateLimited       metric.Int64Counter
	meter             metric.Meter
}

// Names are every metric of the service: the contract's names, which the
// dashboard and the alerts (terraform/) use and nothing else.
var Names = []string{
	"pixashot.captures", "pixashot.capture.duration", "pixashot.capture.bytes",
	"pixashot.admission.waiting", "pixashot.admission.running", "pixashot.admission.refused",
	"pixashot.jobs.queued", "pixashot.jobs.age", "pixashot.webhooks.deliveries",
	"pixashot.browser.restarts", "pixashot.renderer.killed", "pixashot.browser.memory",
	"pixashot.egress.refused", "pixashot.auth.failures", "pixashot.ratelimit.refused",
}

// Seconds from 5 ms to 5 minutes: a warm capture's phases sit in the first
// buckets, a job's wait in the queue in the last.
var secondsBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}

// Bytes from 1 KB to 64 MB, by fours.
var bytesBuckets = []float64{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20}

func newMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{meter: meter}
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("1"))
		errs = append(errs, err)
		return c
	}
	m.captures = counter("pixashot.captures", "Captures answered, by outcome (ok or the error type), format and client.")
	m.admissionRefused = counter("pixashot.admission.refused", "Captures refused a slot, by reason (overloaded, client_share).")
	m.webhookDeliveries = counter("pixashot.webhooks.deliveries", "Webhook delivery attempts, by outcome.")
	m.browserRestarts = counter("pixashot.browser.restarts", "Chrome restarts, by reason (died, unresponsive, recycle).")
	m.rendererKilled = counter("pixashot.renderer.killed", "Renderers the memory watchdog ended, by reason (renderer_memory, instance_memory).")
	m.egressRefused = counter("pixashot.egress.refused", "Connections the egress guard refused, by class and client.")
	m.authFailures = counter("pixashot.auth.failures", "Refused credentials, by reason and the client when known.")
	m.rateLimited = counter("pixashot.ratelimit.refused", "Requests over the client's rate limit, by client.")
	var err error
	m.duration, err = meter.Float64Histogram("pixashot.capture.duration", metric.WithUnit("s"),
		metric.WithDescription("Where a capture's time goes, by phase (queue, tab, navigate, wait, clean, render, encode, store, total)."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	errs = append(errs, err)
	m.bytes, err = meter.Int64Histogram("pixashot.capture.bytes", metric.WithUnit("By"),
		metric.WithDescription("Size of the captures answered."), metric.WithExplicitBucketBoundaries(bytesBuckets...))
	errs = append(errs, err)
	m.jobsAge, err = meter.Float64Histogram("pixashot.jobs.age", metric.WithUnit("s"),
		metric.WithDescription("Time from an async capture's submission to its start."),
		metric.WithExplicitBucketBoundaries(secondsBuckets...))
	errs = append(errs, err)
	return m, errors.Join(errs...)
}

func attrs(kv ...string) metric.MeasurementOption {
	a := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		a = append(a, attribute.String(kv[i], kv[i+1]))
	}
	return metric.WithAttributeSet(attribute.NewSet(a...))
}

// Capture counts an answered capture request and its size (0: none sent).
func (m *Metrics) Capture(ctx context.Context, outcome, format, client string, size int) {
	if m == nil {
		return
	}
	m.captures.Add(ctx, 1, attrs("outcome", outcome, "format", format, "client", client))
	if size > 0 {
		m.bytes.Record(ctx, int64(size), attrs("format", format))
	}
}

// Phase records the time one phase of a capture took.
func (m *Metrics) Phase(ctx context.Context, phase string, d time.Duration) {
	if m == nil {
		return
	}
	m.duration.Record(ctx, d.Seconds(), attrs("phase", phase))
}

// AdmissionRefused counts a capture refused a slot.
func (m *Metrics) AdmissionRefused(ctx context.Context, reason string) {
	if m != nil {
		m.admissionRefused.Add(ctx, 1, attrs("reason", reason))
	}
}

// JobStarted records how long an async capture waited to start.
func (m *Metrics) JobStarted(ctx context.Context, age time.Duration) {
	if m != nil {
		m.jobsAge.Record(ctx, max(age, 0).Seconds())
	}
}

// WebhookDelivered counts one webhook delivery attempt.
func (m *Metrics) WebhookDelivered(ctx context.Context, outcome string) {
	if m != nil {
		m.webhookDeliveries.Add(ctx, 1, attrs("outcome", outcome))
	}
}

// BrowserRestarted counts a new Chrome taking the old one's place.
func (m *Metrics) BrowserRestarted(reason string) {
	if m != nil {
		m.browserRestarts.Add(context.Background(), 1, attrs("reason", reason))
	}
}

// RendererKilled counts a renderer ended under a capture.
func (m *Metrics) RendererKilled(reason string) {
	if m != nil {
		m.rendererKilled.Add(context.Background(), 1, attrs("reason", reason))
	}
}

// EgressRefused counts a connection the guard refused; client is "" for
// the service's own (a webhook).
func (m *Metrics) EgressRefused(class, client string) {
	if m != nil {
		m.egressRefused.Add(context.Background(), 1, attrs("class", class, "client", client))
	}
}

// AuthFailed counts a refused credential; client is "" unless the token
// named a known client (an expired or revoked key).
func (m *Metrics) AuthFailed(ctx context.Context, reason, client string) {
	if m != nil {
		m.authFailures.Add(ctx, 1, attrs("reason", reason, "client", client))
	}
}

// RateLimited counts a request over its client's rate limit.
func (m *Metrics) RateLimited(ctx context.Context, client string) {
	if m != nil {
		m.rateLimited.Add(ctx, 1, attrs("client", client))
	}
}

// Gauges are read when metrics are collected, not on the request path.
// A nil function leaves its gauge out.
type Gauges struct {
	Waiting, Running func() int64 // captures waiting for a slot, holding one
	Queued           func() int64 // async captures in the embedded queue
	BrowserMemory    func() int64 // bytes of every Chrome process of the instance
}

// Observe registers the gauges.
func (m *Metrics) Observe(g Gauges) error {
	if m == nil {
		return nil
	}
	var errs []error
	gauge := func(name, unit, desc string, f func() int64) {
		if f == nil {
			return
		}
		_, err := m.meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(f())
				return nil
			}))
		errs = append(errs, err)
	}
	gauge("pixashot.admission.waiting", "{capture}", "Captures waiting for a slot.", g.Waiting)
	gauge("pixashot.admission.running", "{capture}", "Captures holding a slot.", g.Running)
	gauge("pixashot.jobs.queued", "{job}", "Async captures queued on this instance (the embedded queue).", g.Queued)
	gauge("pixashot.browser.memory", "By", "Memory of every Chrome process of the instance together.", g.BrowserMemory)
	return errors.Join(errs...)
}
