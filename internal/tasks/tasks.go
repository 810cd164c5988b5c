// Package tasks carries asynchronous captures on Cloud Tasks: each job is an
// HTTP task to the service's own internal route, with an OIDC token of a
// dedicated invoker account, named after the job so that enqueueing twice is
// enqueueing once; and the check of that token when the task arrives.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
)

// NewClient is the Cloud Tasks client; with an endpoint, a plaintext stand-in.
func NewClient(ctx context.Context, endpoint string) (*cloudtasks.Client, error) {
	if endpoint == "" {
		return cloudtasks.NewClient(ctx)
	}
	return cloudtasks.NewClient(ctx, option.WithEndpoint(endpoint), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

// Queue enqueues jobs on one Cloud Tasks queue.
type Queue struct {
	Client   *cloudtasks.Client
	Name     string        // projects/P/locations/L/queues/Q
	URL      string        // the internal route's absolute URL
	Audience string        // the service's URL, which the token names
	Invoker  string        // the service account the token is of
	Deadline time.Duration // how long Cloud Tasks waits for one attempt
}

// MaxTask is Cloud Tasks' limit on a task (1 MB); a request larger than it
// cannot be queued there.
const MaxTask = 1_000_000

// Enqueue creates one task per job. A task that exists already (the same
// job enqueued again) is success.
func (q *Queue) Enqueue(ctx context.Context, ts []jobs.Task) error {
	for _, t := range ts {
		if b, _ := json.Marshal(t); len(b) > MaxTask {
			return jobs.ErrTooLarge
		}
	}
	for _, t := range ts {
		body, _ := json.Marshal(t)
		req := &cloudtaskspb.CreateTaskRequest{Parent: q.Name, Task: &cloudtaskspb.Task{
			Name:             q.Name + "/tasks/" + t.ID,
			DispatchDeadline: durationpb.New(q.Deadline),
			MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
				Url: q.URL, HttpMethod: cloudtaskspb.HttpMethod_POST,
				Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
				AuthorizationHeader: &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{
					ServiceAccountEmail: q.Invoker, Audience: q.Audience}},
			}},
		}}
		if _, err := q.Client.CreateTask(ctx, req); err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("tasks: creating %s: %w", t.ID, err)
		}
	}
	return nil
}

// Verifier checks the OIDC token Cloud Tasks sends with a task: signed by a
// key of the issuer's published set, for this audience, of the invoker
// account, not expired.
type Verifier struct {
	CertsURL string
	Audience string
	Email    string
	HTTP     *http.Client

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

// maxLifetime is the longest an ID token of Google's lives (one hour), and
// a little for clocks that differ.
const maxLifetime = time.Hour + 5*time.Minute

// issuers are Google's, as its ID tokens write them.
var issuers = map[string]bool{"https://accounts.google.com": true, "accounts.google.com": true}

// Verify is nil only for a request carrying a valid token.
func (v *Verifier) Verify(r *http.Request) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || len(raw) > 8192 {
		return errors.New("no bearer token")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return errors.New("not a signed JWT")
	}
	keys, err := v.keySet(r.Context(), tok)
	if err != nil {
		return err
	}
	var claims jwt.Claims
	var extra struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(keys, &claims, &extra); err != nil {
		return errors.New("the signature does not verify")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{v.Audience}, Time: time.Now()}, time.Minute); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	switch {
	case !issuers[claims.Issuer]:
		return errors.New("another issuer")
	case claims.Expiry == nil || claims.IssuedAt == nil:
		return errors.New("no expiry or issue time")
	case claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > maxLifetime,
		claims.Expiry.Time().After(time.Now().Add(maxLifetime)):
		// Google mints these for an hour: a longer one was not minted
		// for a task delivery, and would outlive a revoked invoker.
		return errors.New("a lifetime longer than Google issues")
	case extra.Email != v.Email || !extra.EmailVerified:
		return errors.New("another account")
	}
	return nil
}

// keySet is the issuer's keys, fetched at most once a minute: again when a
// token names a key the cached set lacks (the issuer rotated), else hourly.
func (v *Verifier) keySet(ctx context.Context, tok *jwt.JSONWebToken) (*jose.JSONWebKeySet, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	stale := v.keys == nil || time.Since(v.fetched) > time.Hour || (kid != "" && len(v.keys.Key(kid)) == 0)
	if stale && time.Since(v.fetched) > time.Minute {
		ks, err := v.fetch(ctx)
		v.fetched = time.Now()
		if err != nil && v.keys == nil {
			return nil, err
		}
		if err == nil {
			v.keys = ks
		}
	}
	if v.keys == nil {
		return nil, errors.New("no signing keys")
	}
	return v.keys, nil
}

func (v *Verifier) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.CertsURL, nil)
	if err != nil {
		return nil, err
	}
	c := v.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the signing keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the signing keys: %s", resp.Status)
	}
	var ks jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&ks); err != nil {
		return nil, fmt.Errorf("reading the signing keys: %w", err)
	}
	return &ks, nil
}
