// Package signing makes and checks signed capture URLs. Two texts can be
// signed, HMAC-SHA256, base64url without padding:
//
//   - the original Pixashot scheme: the parameters other than "signature",
//     sorted by name, joined as k=v with "&" (raw values). Two parameter sets
//     can share one text there ("a=1&b=2" is {a: "1&b=2"} and {a: 1, b: 2}),
//     so it is verified only where no name holds "&" or "=" and no value
//     holds "&": then the text splits back into exactly one set.
//   - version 2 (signature_version=2, what the service mints): the same with
//     every name and value query-escaped, which no two sets share.
//
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
	ErrInvalid   = errors.New("invalid signature")
	ErrExpired   = errors.New("signature expired")
	ErrNoKey     = errors.New("no signing key loaded")
	ErrAmbiguous = errors.New("the parameters are ambiguous under the original scheme")
)

// VersionParam selects the signed text; "2" is the escaped one.
const VersionParam = "signature_version"

// Signer signs with the newest key and verifies with any of them, so a key
// can be rotated without breaking the URLs already handed out.
type Signer struct {
	keys     atomic.Pointer[[][]byte] // newest first
	now      func() time.Time
	maxAhead time.Duration
}

// New returns a signer; keys are newest first.
func New(keys ...[]byte) *Signer {
	s := &Signer{now: time.Now, maxAhead: MaxAhead}
	s.SetKeys(keys)
	return s
}

// WithMaxAhead lets URLs expire up to d ahead instead of MaxAhead (the
// local store's download links live as long as SIGNED_URL_TTL).
func (s *Signer) WithMaxAhead(d time.Duration) *Signer {
	s.maxAhead = d
	return s
}

// SetKeys replaces the keys (newest first), as a reload does.
func (s *Signer) SetKeys(keys [][]byte) { s.keys.Store(&keys) }

// Canonical is the original signed text of params: raw values.
func Canonical(params map[string]string) string {
	return join(params, func(s string) string { return s })
}

// CanonicalV2 is the version 2 text: each name and value query-escaped, so
// "&" and "=" appear only as separators.
func CanonicalV2(params map[string]string) string { return join(params, url.QueryEscape) }

// join writes the parameters but the signature, sorted by name, as
// k=v joined by "&", each part through esc.
func join(params map[string]string, esc func(string) string) string {
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
		b.WriteString(esc(k) + "=" + esc(params[k]))
	}
	return b.String()
}

// text is the signed text of params under the version they name.
func text(params map[string]string) (string, error) {
	switch params[VersionParam] {
	case "2":
		return CanonicalV2(params), nil
	case "":
		for k, v := range params {
			if strings.ContainsAny(k, "&=") || strings.Contains(v, "&") {
				return "", ErrAmbiguous
			}
		}
		return Canonical(params), nil
	}
	return "", ErrInvalid
}

func mac(key []byte, text string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(text))
	return m.Sum(nil)
}

// Sign returns the signature of params under the newest key, in the scheme
// params name (VersionParam).
func (s *Signer) Sign(params map[string]string) (string, error) {
	keys := *s.keys.Load()
	if len(keys) == 0 {
		return "", ErrNoKey
	}
	t, err := text(params)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(mac(keys[0], t)), nil
}

// Query returns params with expires, the version 2 marker and the signature
// added, ready for a URL.
func (s *Signer) Query(params map[string]string, expires time.Time) (url.Values, error) {
	p := make(map[string]string, len(params)+3)
	for k, v := range params {
		p[k] = v
	}
	p[VersionParam] = "2"
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
	t, err := text(params)
	if err != nil {
		return err
	}
	ok := 0
	for _, k := range *s.keys.Load() {
		ok |= boolInt(hmac.Equal(sig, mac(k, t)))
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
	case at.Sub(now) > s.maxAhead:
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
