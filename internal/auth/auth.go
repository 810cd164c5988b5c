// Package auth decides who a bearer token belongs to. Tokens are held only as
// SHA-256 hashes and compared in constant time.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Principal is an authenticated client.
type Principal struct {
	Client  string // client id
	Version string // key version that matched, for the audit trail
}

// Failures, with reasons an alert can count.
var (
	ErrMissing = errors.New("no credentials")
	ErrInvalid = errors.New("unknown token")
	ErrExpired = errors.New("expired token")
)

// Authenticator checks a presented token.
type Authenticator interface {
	Authenticate(token string) (Principal, error)
}

// Key is one valid token of a client, held as its hash.
type Key struct {
	Client  string
	Version string
	Hash    [sha256.Size]byte
}

// Hash is how tokens are held.
func Hash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// Match returns the index of the key whose hash equals the token's, or -1.
// Every key is compared, so the time taken does not tell which one came close.
func Match(keys []Key, token string) int {
	h := Hash(token)
	found := -1
	for i, k := range keys {
		if subtle.ConstantTimeCompare(h[:], k.Hash[:]) == 1 {
			found = i
		}
	}
	return found
}

// Principal is who holds the key.
func (k Key) Principal() Principal { return Principal{Client: k.Client, Version: k.Version} }

// Static serves AUTH_TOKEN: fixed tokens of the client "dev".
type Static struct{ keys []Key }

// NewStatic hashes the tokens and forgets them.
func NewStatic(tokens []string) *Static {
	s := &Static{}
	for i, t := range tokens {
		if t = strings.TrimSpace(t); t != "" {
			s.keys = append(s.keys, Key{Client: "dev", Version: "static-" + strconv.Itoa(i+1), Hash: Hash(t)})
		}
	}
	return s
}

// Authenticate implements Authenticator.
func (s *Static) Authenticate(token string) (Principal, error) {
	if i := Match(s.keys, token); i >= 0 {
		return s.keys[i].Principal(), nil
	}
	return Principal{}, ErrInvalid
}

// Chain tries each authenticator in turn; the first that knows the token wins.
// An expired token is reported as expired, not as unknown.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(token string) (Principal, error) {
	err := ErrInvalid
	for _, a := range c {
		p, e := a.Authenticate(token)
		if e == nil {
			return p, nil
		}
		if errors.Is(e, ErrExpired) {
			err = e
		}
	}
	return Principal{}, err
}

// Bearer returns the token of an "Authorization: Bearer" header.
func Bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrMissing
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", ErrInvalid
	}
	return strings.TrimSpace(tok), nil
}
