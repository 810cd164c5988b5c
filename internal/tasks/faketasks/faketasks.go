// Package faketasks is an in-process stand-in for Cloud Tasks: the real
// client's gRPC service interface (cloudtaskspb), delivering each HTTP task
// the way the real one does: the task's method, headers and body, an OIDC
// token of the task's service account for its audience (RS256, signed by a
// key published as a JWKS, as Google publishes its own), the X-CloudTasks-*
// headers, and retries with backoff until a 2xx.
package faketasks

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is the stand-in.
type Server struct {
	cloudtaskspb.UnimplementedCloudTasksServer
	Addr     string // host:port of the gRPC service (TASKS_ENDPOINT)
	CertsURL string // the JWKS (TASKS_OIDC_CERTS_URL)
	// Target, when set, replaces the scheme and host of every task's URL:
	// the service's test address behind the audience's name.
	Target string

	key   *rsa.PrivateKey
	kid   string
	grpc  *grpc.Server
	certs *httptest.Server
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu    sync.Mutex
	tasks map[string]*Record
}

// Record is what the stand-in knows of one task.
type Record struct {
	Task     *cloudtaskspb.Task
	Attempts int
	Status   int // the last answer's
	Done     bool
}

// Start serves on loopback.
func Start() (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	s := &Server{key: key, kid: "fake-" + strconv.FormatInt(time.Now().UnixNano(), 36), tasks: map[string]*Record{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: s.kid, Algorithm: "RS256", Use: "sig"}}})
	s.certs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks) //nolint:errcheck // test server
	}))
	s.CertsURL = s.certs.URL
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = ln.Addr().String()
	s.grpc = grpc.NewServer()
	cloudtaskspb.RegisterCloudTasksServer(s.grpc, s)
	go s.grpc.Serve(ln) //nolint:errcheck // ends at Close
	return s, nil
}

// Close stops serving and delivering.
func (s *Server) Close() {
	s.stop()
	s.grpc.Stop()
	s.certs.Close()
	s.wg.Wait()
}

// Tasks is a copy of what was created, by name.
func (s *Server) Tasks() map[string]Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Record{}
	for k, v := range s.tasks {
		out[k] = *v
	}
	return out
}

// CreateTask stores the task and starts delivering it. A name that exists
// is AlreadyExists, as the real service answers for a named task.
func (s *Server) CreateTask(_ context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	t := req.GetTask()
	hr := t.GetHttpRequest()
	switch {
	case hr == nil:
		return nil, status.Error(codes.InvalidArgument, "only HTTP tasks")
	case t.GetName() != "" && path.Dir(path.Dir(t.GetName())) != req.GetParent():
		return nil, status.Error(codes.InvalidArgument, "the task's name is not in the parent queue")
	}
	s.mu.Lock()
	if _, ok := s.tasks[t.GetName()]; ok {
		s.mu.Unlock()
		return nil, status.Error(codes.AlreadyExists, "a task with this name exists")
	}
	rec := &Record{Task: t}
	s.tasks[t.GetName()] = rec
	s.mu.Unlock()
	s.wg.Add(1)
	go s.deliver(req.GetParent(), rec)
	return t, nil
}

// Token is an OIDC token as Google mints it for a task's service account;
// mutate changes its claims (tests of the verifier).
func (s *Server) Token(audience, email string, mutate func(map[string]any)) (string, error) {
	now := time.Now()
	claims := map[string]any{"iss": "https://accounts.google.com", "aud": audience, "email": email, "email_verified": true,
		"sub": "1" + strconv.FormatInt(now.UnixNano(), 10), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mutate != nil {
		mutate(claims)
	}
	return s.Sign(claims)
}

// Sign signs claims with the published key.
func (s *Server) Sign(claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", s.kid))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

func (s *Server) deliver(queue string, rec *Record) {
	defer s.wg.Done()
	hr := rec.Task.GetHttpRequest()
	target := hr.GetUrl()
	if s.Target != "" {
		if u, err := url.Parse(target); err == nil {
			target = s.Target + u.RequestURI()
		}
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; attempt < 50; attempt++ {
		code, err := s.once(queue, rec, target, hr, attempt)
		s.mu.Lock()
		rec.Attempts, rec.Status = attempt+1, code
		if err == nil && code >= 200 && code < 300 {
			rec.Done = true
		}
		done := rec.Done
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Server) once(queue string, rec *Record, target string, hr *cloudtaskspb.HttpRequest, attempt int) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, hr.GetHttpMethod().String(), target, bytes.NewReader(hr.GetBody()))
	if err != nil {
		return 0, err
	}
	for k, v := range hr.GetHeaders() {
		req.Header.Set(k, v)
	}
	if o := hr.GetOidcToken(); o != nil {
		aud := o.GetAudience()
		if aud == "" {
			aud = hr.GetUrl()
		}
		tok, err := s.Token(aud, o.GetServiceAccountEmail(), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("X-CloudTasks-QueueName", path.Base(queue))
	req.Header.Set("X-CloudTasks-TaskName", path.Base(rec.Task.GetName()))
	req.Header.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(attempt))
	req.Header.Set("X-CloudTasks-TaskExecutionCount", strconv.Itoa(attempt))
	ctx, cancel := context.WithTimeout(s.ctx, time.Duration(max(rec.Task.GetDispatchDeadline().GetSeconds(), 10))*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode == 0 {
		return 0, errors.New("no status")
	}
	return resp.StatusCode, nil
}
