package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// The original's published example.
func TestOriginalVector(t *testing.T) {
	s := New([]byte("secret"))
	got, _ := s.Sign(map[string]string{"url": "https://example.com", "format": "png", "expires": "1700000000"})
	if got != "vgrf40gNRtXm9da6s3PVdyWhpNB3fJ2R3gqDKziCjZ8" {
		t.Fatalf("signature %s", got)
	}
}

// reference is the documented algorithm written out independently, as the
// original Python does it: sorted k=v joined by &, HMAC-SHA256, base64url, no padding.
func reference(key string, pairs [][2]string) string {
	text := ""
	for i, p := range pairs {
		if i > 0 {
			text += "&"
		}
		text += p[0] + "=" + p[1]
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(text))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	old, cur := []byte("old-key"), []byte("new-key")
	s := New(cur, old)
	s.now = func() time.Time { return now }
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	// Values as sent, before URL encoding: spaces, "=" and unicode (an "&"
	// would make the original text ambiguous: see TestNoTwoSetsShareAText).
	pairs := [][2]string{{"expires", exp}, {"full_page", "true"}, {"url", "https://example.com/a b?x=1;y=é"}}
	q := url.Values{}
	for _, p := range pairs {
		q.Set(p[0], p[1])
	}
	q.Set("signature", reference("new-key", pairs))
	if err := s.Verify(q); err != nil {
		t.Fatalf("a valid URL: %v", err)
	}
	q.Set("signature", reference("old-key", pairs)) // an older enabled key still verifies
	if err := s.Verify(q); err != nil {
		t.Fatalf("the older key: %v", err)
	}
	bad := map[string]func(url.Values){
		"tampered value":   func(q url.Values) { q.Set("url", "https://evil.example") },
		"added parameter":  func(q url.Values) { q.Set("format", "pdf") },
		"repeated":         func(q url.Values) { q.Add("url", "https://evil.example") },
		"wrong key":        func(q url.Values) { q.Set("signature", reference("other", pairs)) },
		"no signature":     func(q url.Values) { q.Del("signature") },
		"garbage":          func(q url.Values) { q.Set("signature", "!!!") },
		"padded signature": func(q url.Values) { q.Set("signature", q.Get("signature")+"=") },
	}
	for name, mutate := range bad {
		c := url.Values{}
		for k, v := range q {
			c[k] = append([]string(nil), v...)
		}
		mutate(c)
		if err := s.Verify(c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Expired, too far ahead, and missing expires.
	for _, c := range []struct {
		exp  string
		want error
	}{{strconv.FormatInt(now.Add(-time.Second).Unix(), 10), ErrExpired}, {strconv.FormatInt(now.Add(25*time.Hour).Unix(), 10), ErrInvalid}} {
		p := [][2]string{{"expires", c.exp}, {"url", "https://example.com"}}
		q := url.Values{"expires": {c.exp}, "url": {"https://example.com"}, "signature": {reference("new-key", p)}}
		if err := s.Verify(q); !errors.Is(err, c.want) {
			t.Errorf("expires %s: %v, want %v", c.exp, err, c.want)
		}
	}
	p := [][2]string{{"url", "https://example.com"}}
	if err := s.Verify(url.Values{"url": {"https://example.com"}, "signature": {reference("new-key", p)}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no expires: %v", err)
	}
	// Query signs what Verify accepts.
	q, err := s.Query(map[string]string{"url": "https://example.com"}, now.Add(time.Minute))
	if err != nil || s.Verify(q) != nil {
		t.Errorf("Query: %v", err)
	}
	// Rotation: a reload that adds a newer key signs with it and still
	// verifies what the older one signed; an empty set signs nothing.
	s.SetKeys([][]byte{[]byte("newest"), cur})
	if err := s.Verify(q); err != nil {
		t.Errorf("after adding a key: %v", err)
	}
	if sig, _ := s.Sign(map[string]string{"a": "b"}); sig != reference("newest", [][2]string{{"a", "b"}}) {
		t.Error("the newest key does not sign")
	}
	s.SetKeys(nil)
	if _, err := s.Sign(map[string]string{"a": "b"}); !errors.Is(err, ErrNoKey) {
		t.Errorf("no keys: %v", err)
	}
}

// The review's forgery: a signature made for {custom_js: 1, client: dev}
// replayed as {client: "dev&custom_js=1"} with no custom_js. Under the
// original scheme both are the text "client=dev&custom_js=1&..."; it is
// refused as ambiguous, and the version 2 text tells them apart.
func TestNoTwoSetsShareAText(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := New([]byte("key"))
	s.now = func() time.Time { return now }
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	signed := map[string]string{"html_content": "<p>hi</p>", "custom_js": "1", "format": "html", "client": "dev", "expires": exp}
	sig, err := s.Sign(signed)
	if err != nil {
		t.Fatal(err)
	}
	forged := url.Values{"html_content": {"<p>hi</p>"}, "format": {"html"}, "client": {"dev&custom_js=1"},
		"expires": {exp}, "signature": {sig}}
	if err := s.Verify(forged); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("the forged set under the original scheme: %v", err)
	}
	// The same replay against what the service mints (version 2).
	q, _ := s.Query(map[string]string{"html_content": "<p>hi</p>", "custom_js": "1", "format": "html", "client": "dev"}, now.Add(time.Hour))
	forged = url.Values{}
	for k, v := range q {
		forged[k] = v
	}
	forged.Del("custom_js")
	forged.Set("client", "dev&custom_js=1")
	if err := s.Verify(forged); !errors.Is(err, ErrInvalid) {
		t.Fatalf("the forged set under version 2: %v", err)
	}
	if err := s.Verify(q); err != nil {
		t.Fatalf("the minted URL: %v", err)
	}
	// Values with "&" verify under version 2, and a name with "=" too.
	q, _ = s.Query(map[string]string{"url": "https://example.com/?a=1&b=2"}, now.Add(time.Hour))
	if err := s.Verify(q); err != nil {
		t.Fatalf("a query string in a value under version 2: %v", err)
	}
	if CanonicalV2(map[string]string{"a": "1&b=2"}) == CanonicalV2(map[string]string{"a": "1", "b": "2"}) {
		t.Fatal("version 2 texts collide")
	}
	// An unknown version is refused.
	q.Set(VersionParam, "3")
	if err := s.Verify(q); !errors.Is(err, ErrInvalid) {
		t.Fatalf("version 3: %v", err)
	}
}
