package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit/redistest"
)

// probe sends an authenticated request that stops at validation: 400 means
// the token was accepted, 401/403 that it was not. No browser is involved.
func probe(svc, token string) int {
	req, _ := http.NewRequest("POST", svc+"/capture", strings.NewReader(`{"bogus":1}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func status(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSecretManagerRotationOverHTTP(t *testing.T) {
	fake := fakesm.StartT(t)
	e := own(t, func(c *config.Config) {
		c.AuthTokens = nil
		c.AuthSecretProject = "proj"
		c.SecretEndpoint = fake.Addr
		c.AuthRefresh = 200 * time.Millisecond
	})
	// Nothing loadable: the instance runs but is not ready, and refuses tokens.
	if s := status(e.svc.URL + "/health/ready"); s != 503 {
		t.Fatalf("ready with no tokens: %d", s)
	}
	labels := map[string]string{keystore.ClientLabel: "acme"}
	oldTok, newTok := randomHex(32), randomHex(32)
	v1 := fake.Put("proj", "pixashot-client-acme", labels, oldTok, time.Now())
	poll.Until(t, "readiness after the first token", func() bool { return status(e.svc.URL+"/health/ready") == 200 })
	if s := probe(e.svc.URL, oldTok); s != 400 {
		t.Fatalf("the loaded token: %d", s)
	}

	traffic := fakesm.StartTraffic(oldTok, 2*time.Millisecond, func(tok string) bool { return probe(e.svc.URL, tok) == 400 })
	fake.Put("proj", "pixashot-client-acme", labels, newTok, time.Now())
	poll.Until(t, "the new version", func() bool { return probe(e.svc.URL, newTok) == 400 })
	traffic.Switch(newTok)
	if err := fake.SetState(v1, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the old version to be revoked", func() bool { return probe(e.svc.URL, oldTok) == 403 })
	time.Sleep(300 * time.Millisecond)
	sent, failed := traffic.Stop()
	t.Logf("rotation over HTTP: %d requests, %d failures", sent, failed)
	if failed != 0 || sent < 20 {
		t.Fatalf("%d of %d requests failed during the rotation", failed, sent)
	}
	if strings.Contains(e.logs.String(), oldTok) || strings.Contains(e.logs.String(), newTok) {
		t.Fatal("a token reached the log")
	}
}

func TestSigningSecretRotation(t *testing.T) {
	fake := fakesm.StartT(t)
	e := own(t, func(c *config.Config) {
		c.URLSigningKeys = nil
		c.URLSigningSecret = "projects/proj/secrets/url-signing"
		c.SecretEndpoint = fake.Addr
		c.AuthRefresh = 200 * time.Millisecond
	})
	mint := func() string {
		r := e.do(t, "POST", "/sign", map[string]any{"params": map[string]any{"url": e.page + "/color?c=00ff00", "window_width": 10, "window_height": 10}})
		var m struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(r.body, &m); err != nil || r.status != 200 {
			return ""
		}
		return m.URL
	}
	// No key loaded yet: nothing can be signed, nothing verifies.
	if u := mint(); u != "" {
		t.Fatalf("signed with no key: %s", u)
	}
	v1 := fake.Put("proj", "url-signing", nil, randomHex(32), time.Now().Add(-time.Hour))
	var first string
	poll.Until(t, "the first signing key", func() bool { first = mint(); return first != "" })
	if r := get(t, first); r.status != 200 {
		t.Fatalf("URL signed with version 1: %d %s", r.status, r.body)
	}
	// A newer version signs from the next reload on; URLs of the old one still work.
	fake.Put("proj", "url-signing", nil, randomHex(32), time.Now())
	poll.Until(t, "the newer key to sign", func() bool { u := mint(); return u != "" && sigOf(u) != sigOf(first) && get(t, u).status == 200 })
	if r := get(t, first); r.status != 200 {
		t.Fatalf("the old URL stopped working before its key was disabled: %d", r.status)
	}
	// Disabling the old version revokes its URLs within a reload.
	if err := fake.SetState(v1, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the old key's URLs to be refused", func() bool { return get(t, first).status == 403 })
}

func sigOf(u string) string {
	p, _ := url.Parse(u)
	return p.Query().Get("signature")
}

func TestRateLimitSharedByTwoInstances(t *testing.T) {
	url, _ := redistest.Start(t)
	shared := func(c *config.Config) {
		c.RedisURL = url
		c.RateLimit = ratelimit.Rate{N: 3, Period: time.Minute}
	}
	a := own(t, shared)
	// The same client, with the same token, on a second instance.
	b := own(t, func(c *config.Config) { shared(c); c.AuthTokens = []string{a.token} })
	var codes []int
	for _, svc := range []string{a.svc.URL, b.svc.URL, a.svc.URL, b.svc.URL} {
		codes = append(codes, probe(svc, a.token))
	}
	// 400 is an admitted request (it stops at validation); 429 the limit.
	if codes[0] != 400 || codes[1] != 400 || codes[2] != 400 || codes[3] != 429 {
		t.Fatalf("codes %v: the two instances do not share one limit of 3", codes)
	}
}
