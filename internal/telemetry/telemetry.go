// Package telemetry builds the service's metrics and traces and sends them
// where METRICS_EXPORTER says: Cloud Monitoring and Cloud Trace (gcp), a
// Prometheus text page (prometheus), or nowhere.
package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	mexporter "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric"
	texporter "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/trace"
	gcppropagator "github.com/GoogleCloudPlatform/opentelemetry-operations-go/propagator"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/detectors/gcp"
	"go.opentelemetry.io/otel"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Config says where telemetry goes.
type Config struct {
	Exporter           string        // "", "gcp" or "prometheus"
	Project            string        // gcp: where metrics and traces are written
	Interval           time.Duration // gcp: how often metrics are sent
	SampleRatio        float64       // traces begun here (no sampled parent) that are kept
	MonitoringEndpoint string        // plaintext gRPC stand-ins (tests, local runs)
	TraceEndpoint      string
	Logger             *slog.Logger
}

// Telemetry is an instance's metrics and tracer.
type Telemetry struct {
	Metrics *Metrics     // nil with no exporter
	Tracer  trace.Tracer // a no-op tracer unless gcp; spans still carry the caller's trace ids
	Handler http.Handler // GET /metrics with prometheus, else nil
	closers []func(context.Context) error
}

const scope = "github.com/pixashot/pixashot-cloudrun"

// Propagator reads the caller's trace: W3C traceparent, else Google's
// X-Cloud-Trace-Context (extracted last, so traceparent wins). It is used
// only to read: the service never sends a trace id out, to a page or to a
// webhook receiver.
var Propagator = propagation.NewCompositeTextMapPropagator(gcppropagator.CloudTraceOneWayPropagator{}, propagation.TraceContext{})

// Start builds the exporters of cfg.Exporter; Close flushes and stops them.
func Start(ctx context.Context, cfg Config) (*Telemetry, error) {
	t := &Telemetry{Tracer: noop.NewTracerProvider().Tracer(scope)}
	if cfg.Exporter == "" {
		return t, nil
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// Export failures (a stand-in down, a quota) are logged, never a
	// request's error: export runs off the request path.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("sending telemetry failed", "event", "telemetry_error", "error", err)
	}))
	res, err := instanceResource(ctx)
	if err != nil {
		return nil, err
	}
	var reader sdkmetric.Reader
	switch cfg.Exporter {
	case "prometheus":
		reg := prometheus.NewRegistry()
		exp, err := promexporter.New(promexporter.WithRegisterer(reg), promexporter.WithoutScopeInfo(), promexporter.WithoutTargetInfo())
		if err != nil {
			return nil, fmt.Errorf("METRICS_EXPORTER=prometheus: %w", err)
		}
		reader = exp
		t.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
	case "gcp":
		exp, err := mexporter.New(mexporter.WithProjectID(cfg.Project),
			mexporter.WithMonitoringClientOptions(clientOptions(cfg.MonitoringEndpoint)...))
		if err != nil {
			return nil, fmt.Errorf("METRICS_EXPORTER=gcp (Cloud Monitoring): %w", err)
		}
		reader = sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(cfg.Interval), sdkmetric.WithTimeout(30*time.Second))
		spans, err := texporter.New(texporter.WithProjectID(cfg.Project), texporter.WithTimeout(30*time.Second),
			texporter.WithTraceClientOptions(clientOptions(cfg.TraceEndpoint)))
		if err != nil {
			return nil, fmt.Errorf("METRICS_EXPORTER=gcp (Cloud Trace): %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
			// Batched, bounded, and dropped rather than waited for when full.
			sdktrace.WithBatcher(spans, sdktrace.WithMaxQueueSize(4096), sdktrace.WithBatchTimeout(cfg.Interval/12+time.Second)),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))))
		t.Tracer = tp.Tracer(scope)
		t.closers = append(t.closers, tp.Shutdown)
	default:
		return nil, fmt.Errorf("METRICS_EXPORTER %q: must be gcp, prometheus or unset", cfg.Exporter)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	t.closers = append(t.closers, mp.Shutdown)
	if t.Metrics, err = newMetrics(mp.Meter(scope)); err != nil {
		return nil, err
	}
	return t, nil
}

// Close sends what is buffered (within ctx) and stops the exporters.
func (t *Telemetry) Close(ctx context.Context) {
	for i := len(t.closers) - 1; i >= 0; i-- {
		_ = t.closers[i](ctx)
	}
	t.closers = nil
}

// instanceResource names the writer of the series: on Cloud Run the
// detector's revision and instance (each instance its own series), else this
// process under a random instance id.
func instanceResource(ctx context.Context) (*resource.Resource, error) {
	base := resource.NewSchemaless(semconv.ServiceName("pixashot"))
	if os.Getenv("K_SERVICE") == "" {
		// Off Cloud Run the detector would ask a metadata server that is
		// not there, for seconds.
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		return resource.Merge(base, resource.NewSchemaless(semconv.ServiceInstanceID(hex.EncodeToString(id))))
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := resource.New(dctx, resource.WithDetectors(gcp.NewDetector()), resource.WithAttributes(semconv.ServiceName("pixashot")))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("detecting the Cloud Run instance: %w", err)
	}
	return res, nil
}

// clientOptions point a Google client at a plaintext stand-in, or leave it
// to the real API with the instance's credentials.
func clientOptions(endpoint string) []option.ClientOption {
	if endpoint == "" {
		return nil
	}
	return []option.ClientOption{option.WithEndpoint(endpoint), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
}

// TraceParent is ctx's span as a W3C traceparent, for a job that carries
// its submit's trace through a queue; "" when there is none.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// FromTraceParent is ctx continuing the trace of a TraceParent value.
func FromTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}
