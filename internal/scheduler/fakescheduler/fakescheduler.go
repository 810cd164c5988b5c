// Package fakescheduler is an in-process stand-in for Cloud Scheduler: the
// real client's gRPC service interface (schedulerpb) keeping jobs by name,
// and Fire, which calls a job's HTTP target the way the real service does
// when the job is due: its method, headers and body, an OIDC token of the
// job's service account for its audience, and the X-CloudScheduler headers.
package fakescheduler

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Server is the stand-in.
type Server struct {
	schedulerpb.UnimplementedCloudSchedulerServer
	Addr string // host:port of the gRPC service (SCHEDULER_ENDPOINT)
	// Target, when set, replaces the scheme and host of every job's URL.
	Target string
	// Token mints the OIDC token of a job's account for an audience.
	Token func(audience, email string) (string, error)

	grpc *grpc.Server
	mu   sync.Mutex
	jobs map[string]*schedulerpb.Job
}

// Start serves on loopback.
func Start(token func(audience, email string) (string, error)) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), Token: token, grpc: grpc.NewServer(), jobs: map[string]*schedulerpb.Job{}}
	schedulerpb.RegisterCloudSchedulerServer(s.grpc, s)
	go s.grpc.Serve(ln) //nolint:errcheck // ends at Close
	return s, nil
}

// Close stops serving.
func (s *Server) Close() { s.grpc.Stop() }

// Jobs is a copy of the jobs, by name.
func (s *Server) Jobs() map[string]*schedulerpb.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*schedulerpb.Job{}
	for k, v := range s.jobs {
		out[k] = proto.Clone(v).(*schedulerpb.Job)
	}
	return out
}

// CreateJob stores a job; its name must lie under the parent, as the real
// service requires, and must not exist.
func (s *Server) CreateJob(_ context.Context, req *schedulerpb.CreateJobRequest) (*schedulerpb.Job, error) {
	j := req.GetJob()
	switch {
	case path.Dir(path.Dir(j.GetName())) != req.GetParent() || path.Base(path.Dir(j.GetName())) != "jobs":
		return nil, status.Error(codes.InvalidArgument, "the job's name is not under the parent")
	case j.GetSchedule() == "" || j.GetHttpTarget() == nil:
		return nil, status.Error(codes.InvalidArgument, "a schedule and an HTTP target are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.GetName()]; ok {
		return nil, status.Error(codes.AlreadyExists, "the job exists")
	}
	s.jobs[j.GetName()] = proto.Clone(j).(*schedulerpb.Job)
	return j, nil
}

// UpdateJob replaces a job that exists.
func (s *Server) UpdateJob(_ context.Context, req *schedulerpb.UpdateJobRequest) (*schedulerpb.Job, error) {
	j := req.GetJob()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.GetName()]; !ok {
		return nil, status.Error(codes.NotFound, "no such job")
	}
	s.jobs[j.GetName()] = proto.Clone(j).(*schedulerpb.Job)
	return j, nil
}

// GetJob reads a job.
func (s *Server) GetJob(_ context.Context, req *schedulerpb.GetJobRequest) (*schedulerpb.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[req.GetName()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such job")
	}
	return proto.Clone(j).(*schedulerpb.Job), nil
}

// DeleteJob removes a job.
func (s *Server) DeleteJob(_ context.Context, req *schedulerpb.DeleteJobRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[req.GetName()]; !ok {
		return nil, status.Error(codes.NotFound, "no such job")
	}
	delete(s.jobs, req.GetName())
	return &emptypb.Empty{}, nil
}

// Fire runs the job now as if its schedule had named slot, and returns the
// target's status.
func (s *Server) Fire(ctx context.Context, name string, slot time.Time) (int, error) {
	s.mu.Lock()
	j, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("fakescheduler: no job %s", name)
	}
	hr := j.GetHttpTarget()
	target := hr.GetUri()
	if s.Target != "" {
		if u, err := url.Parse(target); err == nil {
			target = s.Target + u.RequestURI()
		}
	}
	req, err := http.NewRequestWithContext(ctx, hr.GetHttpMethod().String(), target, bytes.NewReader(hr.GetBody()))
	if err != nil {
		return 0, err
	}
	for k, v := range hr.GetHeaders() {
		req.Header.Set(k, v)
	}
	if o := hr.GetOidcToken(); o != nil {
		tok, err := s.Token(o.GetAudience(), o.GetServiceAccountEmail())
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("User-Agent", "Google-Cloud-Scheduler")
	req.Header.Set("X-CloudScheduler", "true")
	req.Header.Set("X-CloudScheduler-JobName", path.Base(name))
	req.Header.Set("X-CloudScheduler-ScheduleTime", slot.UTC().Format(time.RFC3339))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
