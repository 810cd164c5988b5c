// Package faketelemetry is an in-process Cloud Monitoring and Cloud Trace
// for tests: real gRPC servers implementing the services the Google Cloud
// exporters call, so the real exporters are tested.
package faketelemetry

import (
	"context"
	"net"
	"sync"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/trace/apiv2/tracepb"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Server keeps every time series, metric descriptor and span written to it,
// on one address for both services.
type Server struct {
	monitoringpb.UnimplementedMetricServiceServer
	Addr   string
	srv    *grpc.Server
	traces traceServer

	mu          sync.Mutex
	series      []*monitoringpb.TimeSeries
	descriptors []*metric.MetricDescriptor
}

type traceServer struct {
	tracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

// Start serves on a free loopback port until Stop.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), srv: grpc.NewServer()}
	monitoringpb.RegisterMetricServiceServer(s.srv, s)
	tracepb.RegisterTraceServiceServer(s.srv, &s.traces)
	go s.srv.Serve(ln) //nolint:errcheck // ends with Stop
	return s, nil
}

// Stop ends the server.
func (s *Server) Stop() { s.srv.Stop() }

// CreateTimeSeries implements Cloud Monitoring's write.
func (s *Server) CreateTimeSeries(_ context.Context, r *monitoringpb.CreateTimeSeriesRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.series = append(s.series, r.GetTimeSeries()...)
	return &emptypb.Empty{}, nil
}

// CreateMetricDescriptor implements the exporter's first call per metric.
func (s *Server) CreateMetricDescriptor(_ context.Context, r *monitoringpb.CreateMetricDescriptorRequest) (*metric.MetricDescriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.descriptors = append(s.descriptors, r.GetMetricDescriptor())
	return r.GetMetricDescriptor(), nil
}

// BatchWriteSpans implements Cloud Trace's write.
func (t *traceServer) BatchWriteSpans(_ context.Context, r *tracepb.BatchWriteSpansRequest) (*emptypb.Empty, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spans = append(t.spans, r.GetSpans()...)
	return &emptypb.Empty{}, nil
}

// Series returns the time series written so far, oldest first.
func (s *Server) Series() []*monitoringpb.TimeSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*monitoringpb.TimeSeries(nil), s.series...)
}

// Descriptors returns the metric descriptors created so far.
func (s *Server) Descriptors() []*metric.MetricDescriptor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*metric.MetricDescriptor(nil), s.descriptors...)
}

// Spans returns the spans written so far.
func (s *Server) Spans() []*tracepb.Span {
	s.traces.mu.Lock()
	defer s.traces.mu.Unlock()
	return append([]*tracepb.Span(nil), s.traces.spans...)
}
