package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/audit"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// newTestServer is the server without a browser: every route that does not
// capture can be tested on it.
func newTestServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s := &Server{
		Auth: auth.NewStatic([]string{token}), Signer: signing.New(b), Audit: audit.Stdout{Log: log},
		Gate: admission.New(1, 1, time.Second), Ready: func(context.Context) bool { return true },
		Limits: options.Limits{MaxTimeout: time.Minute}, Timeout: time.Minute, MaxBodyBytes: 1 << 20, Logger: log,
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, token
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func send(t *testing.T, method, url, token, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return reply{resp.StatusCode, resp.Header, m}
}

func TestMethodsAndPaths(t *testing.T) {
	ts, token := newTestServer(t)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		// HEAD would be routed to GET and run a whole capture.
		{"HEAD", "/capture?url=https://example.com", 405, "GET, POST"},
		{"PUT", "/capture", 405, "GET, POST"},
		{"PATCH", "/capture", 405, "GET, POST"},
		{"DELETE", "/capture", 405, "GET, POST"},
		{"OPTIONS", "/capture", 405, "GET, POST"},
		{"GET", "/sign", 405, "POST"},
		{"POST", "/captures/abc", 405, "GET, DELETE"},
		{"POST", "/health", 405, "GET"},
		{"GET", "/nope", 404, ""},
	} {
		a := send(t, c.method, ts.URL+c.path, token, "")
		if a.status != c.status || a.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q", c.method, c.path, a.status, a.header.Get("Allow"), c.status, c.allow)
		}
		if c.method != "HEAD" && (a.header.Get("Content-Type") != "application/json" || a.body["status"] != "error") {
			t.Errorf("%s %s: not the JSON error format: %v %v", c.method, c.path, a.header, a.body)
		}
	}
	// CONNECT and paths ServeMux would redirect: sent raw, as a client would.
	for _, raw := range []string{
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		"GET //capture HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /health/../capture HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, raw)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		conn.Close()
		if err != nil || resp.StatusCode < 400 || m["status"] != "error" {
			t.Errorf("%q: %d %v (%v)", strings.SplitN(raw, "\r", 2)[0], resp.StatusCode, m, err)
		}
	}
}

func TestSignExpiresInBounds(t *testing.T) {
	ts, token := newTestServer(t)
	params := `"params":{"url":"https://example.com"}`
	for _, c := range []struct {
		expires string
		status  int
	}{
		{`,"expires_in":0`, 400},
		{`,"expires_in":-5`, 400},
		{`,"expires_in":86401`, 400},
		{`,"expires_in":9223372037`, 400}, // wraps a Duration into the past
		{`,"expires_in":86400`, 200},
		{``, 200},
	} {
		a := send(t, "POST", ts.URL+"/sign", token, "{"+params+c.expires+"}")
		if a.status != c.status {
			t.Errorf("expires%s: %d %v", c.expires, a.status, a.body)
			continue
		}
		if c.status == 400 && a.body["field"] != "expires_in" {
			t.Errorf("expires%s: field %v", c.expires, a.body["field"])
		}
		if c.status == 200 {
			at, err := time.Parse(time.RFC3339, a.body["expires_at"].(string))
			if err != nil || !at.After(time.Now()) || at.After(time.Now().Add(24*time.Hour+time.Minute)) {
				t.Errorf("expires%s: expires_at %v", c.expires, a.body["expires_at"])
			}
		}
	}
}

// The public /health says whether the instance serves, when, and which
// build; load and memory only to a caller with a valid token.
func TestHealthIsMinimalInPublic(t *testing.T) {
	ts, token := newTestServer(t)
	pub := send(t, "GET", ts.URL+"/health", "", "")
	if pub.status != 200 || pub.body["status"] != "healthy" || pub.body["version"] == nil || pub.body["timestamp"] == nil {
		t.Fatalf("public health: %d %v", pub.status, pub.body)
	}
	if len(pub.body) != 3 {
		t.Errorf("the public reply says more than status, timestamp and version: %v", pub.body)
	}
	if a := send(t, "GET", ts.URL+"/health", "wrong", ""); a.body["checks"] != nil {
		t.Error("a wrong token sees the checks")
	}
	checks, _ := send(t, "GET", ts.URL+"/health", token, "").body["checks"].(map[string]any)
	if checks["memory"] == nil || checks["captures"] == nil || checks["memory_usage_mb"] == nil || checks["cpu_percent"] == nil {
		t.Errorf("the checks for a valid token: %v", checks)
	}
}

// X-Forwarded-For is believed only as far as the configured proxies wrote it.
func TestCallerIPTrustsOnlyConfiguredHops(t *testing.T) {
	for _, c := range []struct {
		hops int
		xff  string
		want string
	}{
		{0, "6.6.6.6", "10.1.1.1"},                           // local: the header is the client's word
		{1, "6.6.6.6, 203.0.113.7, 35.1.1.1", "203.0.113.7"}, // Google LB: client, then balancer
		{1, "203.0.113.7, 35.1.1.1", "203.0.113.7"},
		{1, "35.1.1.1", "10.1.1.1"},          // fewer entries than hops: not from the balancer
		{1, "x, junk, 35.1.1.1", "10.1.1.1"}, // not an address
		{2, "6.6.6.6, 203.0.113.7, 35.1.1.1, 10.9.9.9", "203.0.113.7"},
	} {
		s := &Server{TrustedHops: c.hops}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.1.1.1:5555"
		r.Header.Set("X-Forwarded-For", c.xff)
		if got := s.callerIP(r); got != c.want {
			t.Errorf("hops %d, XFF %q: %s, want %s", c.hops, c.xff, got, c.want)
		}
	}
}

// The local store's links: the file, or the contract's errors for a link
// that was altered, has expired, or names nothing.
func TestFileLinks(t *testing.T) {
	d, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	now := time.Now()
	st := store.New(d, store.Config{URLTTL: 15 * time.Minute, Retention: time.Hour, Logger: log})
	link, err := st.Save(context.Background(), store.Object{ID: "0123456789abcdef01234567", Client: "acme", Format: "png", ContentType: "image/png"}, "", []byte("png bytes"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Files: d, Audit: audit.Stdout{Log: log}, Logger: log, Gate: admission.New(1, 1, time.Second)}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	get := func(u string) (int, string, string) {
		resp, err := http.Get(ts.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Disposition"), string(b)
	}
	if code, cd, b := get(link.URL); code != 200 || b != "png bytes" || cd != "attachment; filename=screenshot.png" {
		t.Fatalf("the link: %d %q %q", code, cd, b)
	}
	exp := strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10)
	for _, c := range []struct {
		u, want string
		code    int
	}{
		{strings.Replace(link.URL, "expires=", "expires="+exp+"&x=", 1), "InvalidSignatureError", 403},
		{strings.Replace(link.URL, "/acme/", "/other/", 1), "InvalidSignatureError", 403},
		{strings.Replace(link.URL, "0123456789abcdef01234567", "nope", 1), "NotFound", 404},
	} {
		if code, _, b := get(c.u); code != c.code || !strings.Contains(b, c.want) {
			t.Errorf("%s: %d %s", c.u, code, b)
		}
	}
}

// Liveness fails once the browser has stayed unusable past its bound, so
// the platform replaces an instance that restarts alone cannot mend.
func TestLivenessFollowsTheBrowser(t *testing.T) {
	var dead atomic.Bool
	e := newRouteEnv(t, func(s *Server) { s.Live = func() bool { return !dead.Load() } })
	if a := send(t, "GET", e.ts.URL+"/health/live", "", ""); a.status != 200 {
		t.Fatalf("alive: %d", a.status)
	}
	dead.Store(true)
	if a := send(t, "GET", e.ts.URL+"/health/live", "", ""); a.status != 503 {
		t.Fatalf("browser unusable: %d", a.status)
	}
}
