package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pixashot/pixashot-cloudrun/internal/egress"
)

func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	s := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	key, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

// sender dials only 127.0.0.1 on the test server's port, like the service's
// guard with EGRESS_ALLOW_CIDRS.
func sender(t *testing.T, srv *httptest.Server, allow bool) *Sender {
	t.Helper()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	p, _ := strconv.Atoi(port)
	cfg := egress.Config{AllowPorts: []int{p}}
	if allow {
		cfg.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}
	s := NewSender(egress.New(cfg).DialContext)
	s.Backoff = 5 * time.Millisecond
	return s
}

func TestSignatureVerifiesWithTheReferenceLibrary(t *testing.T) {
	secret, key := newSecret(t)
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var verified, forged atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if verifier.Verify(body, r.Header) == nil {
			verified.Add(1)
		}
		if verifier.Verify(append(body, ' '), r.Header) == nil {
			forged.Add(1)
		}
	}))
	defer srv.Close()
	res := sender(t, srv, true).Send(context.Background(), srv.URL+"/hook", [][]byte{key}, "msg_abc", []byte(`{"type":"capture.done"}`))
	if !res.Delivered || res.Attempts != 1 || verified.Load() != 1 || forged.Load() != 0 {
		t.Fatalf("%+v: verified %d, a changed body verified %d", res, verified.Load(), forged.Load())
	}
	// Another key's signature does not verify.
	_, other := newSecret(t)
	h := http.Header{}
	ts := time.Now()
	h.Set("webhook-id", "msg_abc")
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", Sign([][]byte{other}, "msg_abc", ts, []byte("{}")))
	if verifier.Verify([]byte("{}"), h) == nil {
		t.Error("a signature with another key verified")
	}
	// During a rotation both keys sign: a receiver with either verifies.
	h.Set("webhook-signature", Sign([][]byte{other, key}, "msg_abc", ts, []byte("{}")))
	if err := verifier.Verify([]byte("{}"), h); err != nil || strings.Count(h.Get("webhook-signature"), "v1,") != 2 {
		t.Errorf("two signatures, one with the receiver's key: %v", err)
	}
}

func TestRetriesAndTheirLimits(t *testing.T) {
	_, key := newSecret(t)
	var hits atomic.Int32
	answers := []int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(hits.Add(1)) - 1
		code := 200
		if n < len(answers) {
			code = answers[n]
		}
		if code == 0 { // hang past the client's timeout
			time.Sleep(300 * time.Millisecond)
			code = 200
		}
		if code == 302 {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
		}
		w.WriteHeader(code)
		w.Write([]byte(strings.Repeat("x", 1<<20))) //nolint:errcheck // a large answer, read only in part
	}))
	defer srv.Close()
	for _, c := range []struct {
		name      string
		answers   []int
		delivered bool
		attempts  int
	}{
		{"5xx then ok", []int{500, 503}, true, 3},
		{"429 then ok", []int{429}, true, 2},
		{"timeout then ok", []int{0}, true, 2},
		{"4xx is final", []int{400}, false, 1},
		{"a redirect is not followed", []int{302}, false, 1},
		{"always 5xx: bounded", []int{500, 500, 500, 500, 500, 500, 500, 500}, false, 6},
	} {
		hits.Store(0)
		answers = c.answers
		s := sender(t, srv, true)
		s.client.Timeout = 150 * time.Millisecond
		res := s.Send(context.Background(), srv.URL, [][]byte{key}, "msg_1", []byte("{}"))
		if res.Delivered != c.delivered || res.Attempts != c.attempts || int(hits.Load()) != c.attempts {
			t.Errorf("%s: %+v, %d hits; want delivered %v after %d", c.name, res, hits.Load(), c.delivered, c.attempts)
		}
	}
}

func TestRefusedAddressIsNeitherReachedNorRetried(t *testing.T) {
	_, key := newSecret(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	res := sender(t, srv, false).Send(context.Background(), srv.URL, [][]byte{key}, "msg_1", []byte("{}"))
	if res.Delivered || res.Attempts != 1 || hits.Load() != 0 || !strings.Contains(res.Error, "egress refused") {
		t.Errorf("%+v, %d hits", res, hits.Load())
	}
}

func TestCheckURLAndSecrets(t *testing.T) {
	for _, bad := range []string{"ftp://a.test/", "file:///etc/passwd", "http://user:pw@a.test/", "http:///x", "http://a.test/\\x",
		"javascript:alert(1)", "http://" + strings.Repeat("a", 2100) + ".test/"} {
		if CheckURL(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := CheckURL("https://hooks.example.com/pixashot?x=1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "secret", "whsec_", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
}
