package telemetry

import (
	"context"
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Every instrument the service has is one of Names, and every name is an
// instrument: the contract, the dashboard and the alerts use these.
func TestInstrumentsAreTheContractsNames(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := newMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter(scope))
	if err != nil {
		t.Fatal(err)
	}
	one := func() int64 { return 1 }
	if err := m.Observe(Gauges{Waiting: one, Running: one, Queued: one, BrowserMemory: one}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Capture(ctx, "ok", "png", "c1", 100)
	m.Phase(ctx, "total", time.Second)
	m.AdmissionRefused(ctx, "overloaded")
	m.JobStarted(ctx, time.Second)
	m.WebhookDelivered(ctx, "delivered")
	m.BrowserRestarted("died")
	m.RendererKilled("renderer_memory")
	m.EgressRefused("loopback", "c1")
	m.AuthFailed(ctx, "expired", "c1")
	m.RateLimited(ctx, "c1")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			got = append(got, mm.Name)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(Names))
	if !slices.Equal(got, want) {
		t.Errorf("instruments %v\nnames       %v", got, want)
	}
}

// A nil *Metrics (no exporter) takes every call and records nothing.
func TestNilMetricsCostNothing(t *testing.T) {
	var m *Metrics
	m.Capture(context.Background(), "ok", "png", "c", 1)
	m.EgressRefused("loopback", "")
	if err := m.Observe(Gauges{Waiting: func() int64 { return 1 }}); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { m.Phase(context.Background(), "total", time.Second) }); allocs != 0 {
		t.Errorf("%v allocations per call with no exporter", allocs)
	}
}
