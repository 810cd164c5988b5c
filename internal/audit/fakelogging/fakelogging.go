// Package fakelogging is an in-process Cloud Logging for tests: a real gRPC
// server implementing WriteLogEntries, so the real client library is tested.
package fakelogging

import (
	"context"
	"net"
	"sync"

	"cloud.google.com/go/logging/apiv2/loggingpb"
	"google.golang.org/grpc"
)

// Server keeps every entry written to it.
type Server struct {
	loggingpb.UnimplementedLoggingServiceV2Server
	Addr string
	srv  *grpc.Server

	mu      sync.Mutex
	entries []*loggingpb.LogEntry
}

// Start serves on a free loopback port until Stop.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), srv: grpc.NewServer()}
	loggingpb.RegisterLoggingServiceV2Server(s.srv, s)
	go s.srv.Serve(ln) //nolint:errcheck // ends with Stop
	return s, nil
}

// Stop ends the server.
func (s *Server) Stop() { s.srv.Stop() }

// WriteLogEntries implements the service; the request's log name and
// resource apply to entries that do not set their own.
func (s *Server) WriteLogEntries(_ context.Context, r *loggingpb.WriteLogEntriesRequest) (*loggingpb.WriteLogEntriesResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range r.GetEntries() {
		if e.LogName == "" {
			e.LogName = r.GetLogName()
		}
		s.entries = append(s.entries, e)
	}
	return &loggingpb.WriteLogEntriesResponse{}, nil
}

// Entries returns what was written so far.
func (s *Server) Entries() []*loggingpb.LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*loggingpb.LogEntry(nil), s.entries...)
}
