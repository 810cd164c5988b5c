// Package auth decides who a bearer token belongs to. Tokens are held only as
// SHA-256 hashes and compared in constant time.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"regexp"
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

// Authenticator checks a presented token. With ErrExpired the principal
// names the client whose key expired, for the count of refusals; it admits
// nothing.
type Authenticator interface {
	Authenticate(token string) (Principal, error)
}

// KeyChecker tells whether a key version is still enabled, for what a key
// minted (signed URLs) to die with it.
type KeyChecker interface {
	Active(client, version string) bool
}

// clientID is what a client id may look like: it names storage prefixes,
// rate-limit buckets and Secret Manager secrets.
var clientID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Built-in principals: "dev" holds AUTH_TOKEN, "signed" a URL signed with
// the key that names no client. No configured client may take their names,
// or it would share their storage and limits.
var reserved = map[string]bool{"dev": true, "signed": true}

// ValidClientID reports whether id has the form of a client id.
func ValidClientID(id string) bool { return clientID.MatchString(id) }

// Reserved reports whether id belongs to a built-in principal.
func Reserved(id string) bool { return reserved[id] }

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

// Active implements KeyChecker.
func (s *Static) Active(client, version string) bool { return ActiveIn(s.keys, client, version) }

// ActiveIn reports whether keys hold the version of client (KeyChecker over a
// loaded set).
func ActiveIn(keys []Key, client, version string) bool {
	for _, k := range keys {
		if k.Client == client && k.Version == version {
			return true
		}
	}
	return false
}

// Chain tries each authenticator in turn; the first that knows the token wins.
// An expired token is reported as expired, not as unknown.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(token string) (Principal, error) {
	err, expired := ErrInvalid, Principal{}
	for _, a := range c {
		p, e := a.Authenticate(token)
		if e == nil {
			return p, nil
		}
		if errors.Is(e, ErrExpired) {
			err, expired = e, p
		}
	}
	return expired, err
}

// Active implements KeyChecker: some authenticator of the chain has it.
func (c Chain) Active(client, version string) bool {
	for _, a := range c {
		if kc, ok := a.(KeyChecker); ok && kc.Active(client, version) {
			return true
		}
	}
	return false
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
