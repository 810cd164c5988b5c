// Package signing makes and checks signed capture URLs with the original
// Pixashot scheme: the parameters other than "signature", sorted by name,
// joined as k=v with "&" (raw values), HMAC-SHA256, base64url without padding.
// Unlike the original, "expires" is required and bounded.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MaxAhead is the furthest in the future a signed URL may expire.
const MaxAhead = 24 * time.Hour

// Errors of Verify and Sign.
var (
	ErrInvalid = errors.New("invalid signature")
	ErrExpired = errors.New("signature expired")
	ErrNoKey   = errors.New("no signing key loaded")
)

// Signer signs with the newest key and verifies with any of them, so a key
// can be rotated without breaking the URLs already handed out.
type Signer struct {
	keys atomic.Pointer[[][]byte] // newest first
	now  func() time.Time
}

// New returns a signer; keys are newest first.
func New(keys ...[]byte) *Signer {
	s := &Signer{now: time.Now}
	s.SetKeys(keys)
	return s
}

// SetKeys replaces the keys (newest first), as a reload does.
func (s *Signer) SetKeys(keys [][]byte) { s.keys.Store(&keys) }

// Canonical is the signed text of params.
func Canonical(params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "signature" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + params[k])
	}
	return b.String()
}

func mac(key []byte, text string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(text))
	return m.Sum(nil)
}

// Sign returns the signature of params under the newest key.
func (s *Signer) Sign(params map[string]string) (string, error) {
	keys := *s.keys.Load()
	if len(keys) == 0 {
		return "", ErrNoKey
	}
	return base64.RawURLEncoding.EncodeToString(mac(keys[0], Canonical(params))), nil
}

// Query returns params with expires and signature added, ready for a URL.
func (s *Signer) Query(params map[string]string, expires time.Time) (url.Values, error) {
	p := make(map[string]string, len(params)+2)
	for k, v := range params {
		p[k] = v
	}
	p["expires"] = strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{}
	for k, v := range p {
		q.Set(k, v)
	}
	sig, err := s.Sign(p)
	if err != nil {
		return nil, err
	}
	q.Set("signature", sig)
	return q, nil
}

// Verify checks the signature and the expiry of a query. Each parameter must
// appear once: a repeated one would be signed as one value and read as another.
func (s *Signer) Verify(q url.Values) error {
	params := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return ErrInvalid
		}
		params[k] = vs[0]
	}
	sig, err := base64.RawURLEncoding.DecodeString(params["signature"])
	if err != nil || len(sig) != sha256.Size {
		return ErrInvalid
	}
	text := Canonical(params)
	ok := 0
	for _, k := range *s.keys.Load() {
		ok |= boolInt(hmac.Equal(sig, mac(k, text)))
	}
	if ok == 0 {
		return ErrInvalid
	}
	exp, err := strconv.ParseInt(params["expires"], 10, 64)
	if err != nil {
		return ErrInvalid
	}
	now := s.now()
	switch at := time.Unix(exp, 0); {
	case !at.After(now):
		return ErrExpired
	case at.Sub(now) > MaxAhead:
		return ErrInvalid
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
