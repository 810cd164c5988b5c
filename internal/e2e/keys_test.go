package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
)

// get fetches a URL with no credentials at all.
func get(t *testing.T, u string) result {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestSignedURLs(t *testing.T) {
	e := shared
	// A URL signed with the key the original way works with no token.
	s := signing.New([]byte(e.signingKey))
	params := map[string]string{"url": e.page + "/color?c=00ff00", "window_width": "40", "window_height": "30"}
	q, _ := s.Query(params, time.Now().Add(time.Minute))
	if r := get(t, e.svc.URL+"/capture?"+q.Encode()); r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("signed GET: %d %s", r.status, r.body)
	}
	tampered := url.Values{}
	for k, v := range q {
		tampered[k] = v
	}
	tampered.Set("window_width", "41")
	if r := get(t, e.svc.URL+"/capture?"+tampered.Encode()); r.status != 403 || r.errorJSON(t)["error_type"] != "InvalidSignatureError" {
		t.Errorf("tampered: %d %s", r.status, r.body)
	}
	expired, _ := s.Query(params, time.Now().Add(-time.Second))
	if r := get(t, e.svc.URL+"/capture?"+expired.Encode()); r.status != 403 || r.errorJSON(t)["error_type"] != "SignatureExpiredError" {
		t.Errorf("expired: %d %s", r.status, r.body)
	}
	tooFar, _ := s.Query(params, time.Now().Add(25*time.Hour))
	if r := get(t, e.svc.URL+"/capture?"+tooFar.Encode()); r.status != 403 {
		t.Errorf("more than 24h ahead: %d %s", r.status, r.body)
	}
	if r := get(t, e.svc.URL+"/capture?url="+url.QueryEscape(e.page+"/")); r.status != 401 {
		t.Errorf("neither token nor signature: %d", r.status)
	}

	// POST /sign mints one for the client, who never holds the key.
	r := e.do(t, "POST", "/sign", map[string]any{"params": map[string]any{"url": e.page + "/color?c=0000ff", "window_width": 50, "full_page": false}, "expires_in": 120})
	var minted struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(r.body, &minted); err != nil || r.status != 200 || !strings.Contains(minted.URL, "client=dev") {
		t.Fatalf("sign: %d %s", r.status, r.body)
	}
	if at, err := time.Parse(time.RFC3339, minted.ExpiresAt); err != nil || time.Until(at) > 121*time.Second {
		t.Errorf("expires_at %q", minted.ExpiresAt)
	}
	if r := get(t, minted.URL); r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("minted URL: %d %s", r.status, r.body)
	}
	// Invalid options fail at signing, not later.
	r = e.do(t, "POST", "/sign", map[string]any{"params": map[string]any{"url": "file:///etc/passwd"}})
	if r.status != 400 || r.errorJSON(t)["field"] != "url" {
		t.Errorf("sign invalid: %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/sign", map[string]any{"params": map[string]any{"url": e.page + "/"}, "expires_in": 90000})
	if r.status != 400 || r.errorJSON(t)["field"] != "expires_in" {
		t.Errorf("sign too long: %d %s", r.status, r.body)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	e := own(t, func(c *config.Config) { c.RateLimit = ratelimit.Rate{N: 2, Period: time.Minute} })
	var last result
	for i := range 3 {
		last = e.do(t, "POST", "/capture", map[string]any{"url": e.page + "/color?c=ff0000", "window_width": 20, "window_height": 20, "response_type": "empty"})
		if i < 2 && last.status != 204 {
			t.Fatalf("request %d: %d %s", i, last.status, last.body)
		}
		if got := last.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(max(1-i, 0)) || last.header.Get("X-RateLimit-Limit") != "2" {
			t.Errorf("request %d: remaining %q limit %q", i, got, last.header.Get("X-RateLimit-Limit"))
		}
	}
	if last.status != 429 || last.errorJSON(t)["error_type"] != "RateLimitError" {
		t.Fatalf("third request: %d %s", last.status, last.body)
	}
	if ra, _ := strconv.Atoi(last.header.Get("Retry-After")); ra < 25 || ra > 31 {
		t.Errorf("Retry-After %q, want about 30 s", last.header.Get("Retry-After"))
	}
	if reset, _ := strconv.ParseInt(last.header.Get("X-RateLimit-Reset"), 10, 64); reset < time.Now().Unix() {
		t.Errorf("X-RateLimit-Reset %d is in the past", reset)
	}
}
