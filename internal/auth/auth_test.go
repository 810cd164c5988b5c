package auth

import (
	"errors"
	"net/http"
	"testing"
)

func TestStaticTokens(t *testing.T) {
	s := NewStatic([]string{"first-token", " second-token ", ""})
	for _, tok := range []string{"first-token", "second-token"} {
		p, err := s.Authenticate(tok)
		if err != nil || p.Client != "dev" || p.Version == "" {
			t.Errorf("%s: %+v %v", tok, p, err)
		}
	}
	for _, tok := range []string{"", "first-toke", "first-token ", "FIRST-TOKEN"} {
		if _, err := s.Authenticate(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted", tok)
		}
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]error{"": ErrMissing, "Bearer": ErrInvalid, "Basic abc": ErrInvalid, "Bearer ": ErrInvalid} {
		r, _ := http.NewRequest("GET", "/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		if _, err := Bearer(r); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", h, err, want)
		}
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "bearer  abc ")
	if tok, err := Bearer(r); err != nil || tok != "abc" {
		t.Errorf("%q %v", tok, err)
	}
}
