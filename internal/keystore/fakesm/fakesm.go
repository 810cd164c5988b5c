// Package fakesm is an in-process Secret Manager for tests: a real gRPC server
// implementing the secretmanagerpb service over loopback, so the real client
// library is what is tested. It keeps secrets and versions in memory.
package fakesm

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server is the fake; Addr is its host:port.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	Addr string
	srv  *grpc.Server

	failing atomic.Bool

	mu       sync.Mutex
	denied   map[string]bool                    // secrets whose payloads answer PermissionDenied
	secrets  map[string]*secretmanagerpb.Secret // by name
	versions map[string][]*version              // by secret name
}

type version struct {
	pb   *secretmanagerpb.SecretVersion
	data []byte
}

// Start serves on a free loopback port until Stop.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), srv: grpc.NewServer(),
		secrets: map[string]*secretmanagerpb.Secret{}, versions: map[string][]*version{}}
	secretmanagerpb.RegisterSecretManagerServiceServer(s.srv, s)
	go s.srv.Serve(ln) //nolint:errcheck // ends with Stop
	return s, nil
}

// Stop ends the server.
func (s *Server) Stop() { s.srv.Stop() }

// Fail makes every call fail with Unavailable (or succeed again).
func (s *Server) Fail(on bool) { s.failing.Store(on) }

func (s *Server) check() error {
	if s.failing.Load() {
		return status.Error(codes.Unavailable, "fake outage")
	}
	return nil
}

// Deny makes reading the payloads of secret (a full name) fail with
// PermissionDenied, as an IAM condition on one secret would; listing it
// still works.
func (s *Server) Deny(secret string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied == nil {
		s.denied = map[string]bool{}
	}
	s.denied[secret] = on
}

// Put adds a version with the given payload and creation time to secret
// (created with labels if new) and returns the version's name.
func (s *Server) Put(project, secret string, labels map[string]string, payload string, created time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := "projects/" + project + "/secrets/" + secret
	if s.secrets[name] == nil {
		s.secrets[name] = &secretmanagerpb.Secret{Name: name, Labels: labels, CreateTime: timestamppb.New(created)}
	}
	return s.addLocked(name, []byte(payload), created).pb.Name
}

func (s *Server) addLocked(secret string, data []byte, created time.Time) *version {
	v := &version{data: data, pb: &secretmanagerpb.SecretVersion{
		Name:       secret + "/versions/" + strconv.Itoa(len(s.versions[secret])+1),
		CreateTime: timestamppb.New(created),
		State:      secretmanagerpb.SecretVersion_ENABLED,
	}}
	s.versions[secret] = append(s.versions[secret], v)
	return v
}

// SetState changes the state of a version by its full name.
func (s *Server) SetState(name string, st secretmanagerpb.SecretVersion_State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.find(name)
	if v == nil {
		return status.Error(codes.NotFound, name)
	}
	v.pb.State = st
	if st == secretmanagerpb.SecretVersion_DESTROYED {
		v.data = nil
	}
	return nil
}

func (s *Server) find(name string) *version {
	secret, _, _ := strings.Cut(name, "/versions/")
	for _, v := range s.versions[secret] {
		if v.pb.Name == name {
			return v
		}
	}
	return nil
}

func (s *Server) ListSecrets(_ context.Context, r *secretmanagerpb.ListSecretsRequest) (*secretmanagerpb.ListSecretsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	label, _ := strings.CutPrefix(strings.TrimSuffix(r.GetFilter(), ":*"), "labels.")
	var out []*secretmanagerpb.Secret
	for name, sec := range s.secrets {
		if strings.HasPrefix(name, r.GetParent()+"/") {
			if _, ok := sec.Labels[label]; ok || r.GetFilter() == "" {
				out = append(out, sec)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return &secretmanagerpb.ListSecretsResponse{Secrets: out, TotalSize: int32(len(out))}, nil
}

func (s *Server) CreateSecret(_ context.Context, r *secretmanagerpb.CreateSecretRequest) (*secretmanagerpb.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	name := r.GetParent() + "/secrets/" + r.GetSecretId()
	if s.secrets[name] != nil {
		return nil, status.Error(codes.AlreadyExists, name)
	}
	sec := &secretmanagerpb.Secret{Name: name, Labels: r.GetSecret().GetLabels(), CreateTime: timestamppb.Now()}
	s.secrets[name] = sec
	return sec, nil
}

func (s *Server) GetSecret(_ context.Context, r *secretmanagerpb.GetSecretRequest) (*secretmanagerpb.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.secretLocked(r.GetName())
}

// secretLocked is the secret of that name, or NotFound. s.mu is held.
func (s *Server) secretLocked(name string) (*secretmanagerpb.Secret, error) {
	if sec := s.secrets[name]; sec != nil {
		return sec, nil
	}
	return nil, status.Error(codes.NotFound, name)
}

func (s *Server) AddSecretVersion(_ context.Context, r *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if _, err := s.secretLocked(r.GetParent()); err != nil {
		return nil, err
	}
	return s.addLocked(r.GetParent(), r.GetPayload().GetData(), time.Now()).pb, nil
}

func (s *Server) ListSecretVersions(_ context.Context, r *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if _, err := s.secretLocked(r.GetParent()); err != nil {
		return nil, err
	}
	var out []*secretmanagerpb.SecretVersion
	for _, v := range s.versions[r.GetParent()] {
		if r.GetFilter() == "state:ENABLED" && v.pb.State != secretmanagerpb.SecretVersion_ENABLED {
			continue
		}
		out = append(out, v.pb)
	}
	return &secretmanagerpb.ListSecretVersionsResponse{Versions: out, TotalSize: int32(len(out))}, nil
}

func (s *Server) AccessSecretVersion(_ context.Context, r *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	v := s.find(r.GetName())
	if v == nil {
		return nil, status.Error(codes.NotFound, r.GetName())
	}
	if secret, _, _ := strings.Cut(r.GetName(), "/versions/"); s.denied[secret] {
		return nil, status.Error(codes.PermissionDenied, "fake: permission denied on "+secret)
	}
	if v.pb.State != secretmanagerpb.SecretVersion_ENABLED {
		return nil, status.Error(codes.FailedPrecondition, fmt.Sprintf("%s is %s", r.GetName(), v.pb.State))
	}
	sum := int64(crc32.Checksum(v.data, crc32.MakeTable(crc32.Castagnoli)))
	return &secretmanagerpb.AccessSecretVersionResponse{Name: v.pb.Name, Payload: &secretmanagerpb.SecretPayload{Data: v.data, DataCrc32C: &sum}}, nil
}

func (s *Server) setState(name string, st secretmanagerpb.SecretVersion_State) (*secretmanagerpb.SecretVersion, error) {
	if err := s.SetState(name, st); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.find(name).pb, nil
}

func (s *Server) DisableSecretVersion(_ context.Context, r *secretmanagerpb.DisableSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.setState(r.GetName(), secretmanagerpb.SecretVersion_DISABLED)
}

func (s *Server) DestroySecretVersion(_ context.Context, r *secretmanagerpb.DestroySecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.setState(r.GetName(), secretmanagerpb.SecretVersion_DESTROYED)
}

// StartT starts a server for the test t and stops it when t ends.
func StartT(t interface {
	Helper()
	Fatal(...any)
	Cleanup(func())
}) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
