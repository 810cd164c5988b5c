package tasks

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/tasks/faketasks"
)

const (
	audience = "https://pixashot.example.run.app"
	invoker  = "pixashot-tasks@p.iam.gserviceaccount.com"
)

func start(t *testing.T) *faketasks.Server {
	t.Helper()
	f, err := faketasks.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func verify(v *Verifier, auth string) error {
	r, _ := http.NewRequest("POST", "http://x/internal/tasks/capture", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return v.Verify(r)
}

// Each forgery a caller could send to the internal route is refused; only
// the invoker's token for this audience, signed by a published key, passes.
func TestVerifierRefusesForgeries(t *testing.T) {
	f, other := start(t), start(t)
	v := &Verifier{CertsURL: f.CertsURL, Audience: audience, Email: invoker}
	good, _ := f.Token(audience, invoker, nil)
	if err := verify(v, "Bearer "+good); err != nil {
		t.Fatalf("the invoker's token: %v", err)
	}
	tok := func(mutate func(map[string]any)) string {
		s, err := f.Token(audience, invoker, mutate)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	otherKey, _ := other.Token(audience, invoker, nil)
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	hsTok, _ := jwt.Signed(hs).Claims(map[string]any{"iss": "https://accounts.google.com", "aud": audience, "email": invoker,
		"email_verified": true, "exp": time.Now().Add(time.Hour).Unix()}).Serialize()
	parts := strings.Split(good, ".")
	for name, auth := range map[string]string{
		"no token":          "",
		"a client's bearer": "Bearer 0123456789abcdef",
		"basic":             "Basic " + good,
		"another audience":  tok(func(c map[string]any) { c["aud"] = "https://evil.example" }),
		"another account":   tok(func(c map[string]any) { c["email"] = "someone@p.iam.gserviceaccount.com" }),
		"unverified email":  tok(func(c map[string]any) { c["email_verified"] = false }),
		"expired":           tok(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
		"no expiry":         tok(func(c map[string]any) { delete(c, "exp") }),
		"no issue time":     tok(func(c map[string]any) { delete(c, "iat") }),
		"valid for a year":  tok(func(c map[string]any) { c["exp"] = time.Now().Add(365 * 24 * time.Hour).Unix() }),
		"a year, iat moved": tok(func(c map[string]any) {
			c["iat"] = time.Now().Add(364 * 24 * time.Hour).Unix()
			c["exp"] = time.Now().Add(365 * 24 * time.Hour).Unix()
		}),
		"not yet valid":       tok(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
		"another issuer":      tok(func(c map[string]any) { c["iss"] = "https://evil.example" }),
		"another key":         "Bearer " + otherKey,
		"HS256":               "Bearer " + hsTok,
		"alg none":            "Bearer eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"a changed payload":   "Bearer " + parts[0] + "." + parts[1] + "x." + parts[2],
		"a dropped signature": "Bearer " + parts[0] + "." + parts[1] + ".",
	} {
		if err := verify(v, auth); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEnqueueIsIdempotentByName(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	client, err := NewClient(ctx, f.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	q := &Queue{Client: client, Name: "projects/test-project/locations/local/queues/pixashot", URL: "http://127.0.0.1:1/internal/tasks/capture",
		Audience: audience, Invoker: invoker, Deadline: time.Minute}
	task := jobs.Task{ID: "0123456789abcdef01234567", Client: "dev", Request: []byte(`{"url":"https://example.com"}`),
		Trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	for range 2 {
		if err := q.Enqueue(ctx, []jobs.Task{task}); err != nil {
			t.Fatal(err)
		}
	}
	ts := f.Tasks()
	rec, ok := ts[q.Name+"/tasks/"+task.ID]
	if len(ts) != 1 || !ok || rec.Task.GetHttpRequest().GetOidcToken().GetServiceAccountEmail() != invoker {
		t.Fatalf("tasks after enqueueing twice: %v", ts)
	}
	// The submit's trace rides in the task, for the job's spans.
	var body jobs.Task
	if err := json.Unmarshal(rec.Task.GetHttpRequest().GetBody(), &body); err != nil || body.Trace != task.Trace {
		t.Errorf("the task's body lost the trace: %v %q", err, rec.Task.GetHttpRequest().GetBody())
	}
	big := jobs.Task{ID: "0123456789abcdef01234568", Client: "dev", Request: []byte(`{"html_content":"` + strings.Repeat("a", MaxTask) + `"}`)}
	if err := q.Enqueue(ctx, []jobs.Task{big}); err != jobs.ErrTooLarge {
		t.Errorf("a task over 1 MB: %v", err)
	}
}
