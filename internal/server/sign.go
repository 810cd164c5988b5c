package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
)

// signedClient is the signed parameter that names the client a URL minted by
// POST /sign belongs to; URLs signed elsewhere with the key have none.
// signedKeyVersion names the key version that minted it: the URL dies with
// that version.
const (
	signedClient     = "client"
	signedKeyVersion = "key_version"
)

// signingParams are the parameters that belong to the signature, not to the
// capture.
var signingParams = map[string]bool{"signature": true, "expires": true, signing.VersionParam: true,
	signedClient: true, signedKeyVersion: true}

// verifySigned authenticates a GET /capture that carries a signature, and
// returns the capture options left once the signing parameters are removed.
func (s *Server) verifySigned(q url.Values) (auth.Principal, url.Values, error) {
	if s.Signer == nil {
		return auth.Principal{}, nil, apierror.New(http.StatusForbidden, apierror.InvalidSignature, "signed URLs are not enabled")
	}
	switch err := s.Signer.Verify(q); {
	case errors.Is(err, signing.ErrExpired):
		return auth.Principal{}, nil, apierror.New(http.StatusForbidden, apierror.SignatureExpired, "the signed URL has expired")
	case errors.Is(err, signing.ErrAmbiguous):
		return auth.Principal{}, nil, apierror.New(http.StatusForbidden, apierror.InvalidSignature,
			"a parameter holds \"&\" (or a name \"=\"), which the original signing scheme cannot tell apart; sign with "+
				signing.VersionParam+"=2 (as POST /sign does)")
	case err != nil:
		return auth.Principal{}, nil, apierror.New(http.StatusForbidden, apierror.InvalidSignature, "the signature is not valid")
	}
	p := auth.Principal{Client: q.Get(signedClient), Version: "signed-url"}
	switch {
	case p.Client == "":
		p.Client = "signed"
	case !auth.ValidClientID(p.Client):
		return auth.Principal{}, nil, apierror.New(http.StatusForbidden, apierror.InvalidSignature, "client is not a valid client id")
	}
	if kv := q.Get(signedKeyVersion); kv != "" {
		// Minted by POST /sign: valid only while the key that minted it is.
		kc, ok := s.Auth.(auth.KeyChecker)
		if !ok || !kc.Active(p.Client, kv) {
			return auth.Principal{}, nil, apierror.New(http.StatusForbidden, apierror.InvalidSignature,
				"the key that minted this URL is no longer enabled")
		}
		p.Version = "signed-url:" + kv
	}
	rest := url.Values{}
	for k, v := range q {
		if !signingParams[k] {
			rest[k] = v
		}
	}
	return p, rest, nil
}

type signRequest struct {
	Params    map[string]json.RawMessage `json:"params"`
	ExpiresIn *int64                     `json:"expires_in"` // nil: an hour
}

// postSign mints a signed capture URL for the calling client, who need not
// hold the key. The options are validated now, so a bad URL fails here.
func (s *Server) postSign(w http.ResponseWriter, r *http.Request) {
	if s.Signer == nil {
		apierror.Write(w, apierror.Invalid("params", "cannot be signed: signed URLs are not enabled on this service"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		apierror.Write(w, apierror.New(http.StatusRequestEntityTooLarge, apierror.PayloadTooLarge, "the request body is larger than 64 KiB"))
		return
	}
	var req signRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apierror.Write(w, apierror.Invalid("body", "must be {\"params\": {...}, \"expires_in\": seconds}"))
		return
	}
	expiresIn := int64(3600)
	if req.ExpiresIn != nil {
		expiresIn = *req.ExpiresIn
	}
	// Compared as seconds: a huge count would wrap a Duration into the past.
	if expiresIn < 1 || expiresIn > int64(signing.MaxAhead/time.Second) {
		apierror.Write(w, apierror.Invalid("expires_in", "must be between 1 and 86400 seconds"))
		return
	}
	for k := range req.Params {
		if signingParams[k] {
			apierror.Write(w, apierror.Invalid("params."+k, "is set by the service"))
			return
		}
	}
	params := map[string]string{}
	for k, raw := range req.Params {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			params[k] = str
		} else {
			params[k] = string(raw) // numbers, booleans, objects and arrays as JSON text
		}
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	if _, err = options.ParseQuery(q, s.Limits); err != nil {
		apierror.Write(w, answer(err))
		return
	}
	params[signedClient] = principal(r.Context()).Client
	params[signedKeyVersion] = principal(r.Context()).Version
	expires := time.Now().Add(time.Duration(expiresIn) * time.Second).Truncate(time.Second)
	q, err = s.Signer.Query(params, expires)
	if err != nil {
		apierror.Write(w, &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "no signing key is loaded yet; retry shortly", RetryAfter: 5 * time.Second, Cause: err})
		return
	}
	u := url.URL{Scheme: scheme(r), Host: r.Host, Path: "/capture", RawQuery: q.Encode()}
	writeJSON(w, http.StatusOK, map[string]string{"url": u.String(), "expires_at": expires.UTC().Format(time.RFC3339)})
}

// scheme is how the client reached the service: behind the load balancer,
// TLS ends there and X-Forwarded-Proto says so.
func scheme(r *http.Request) string {
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		return p
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// rateHeaders reports the limit on every limited response.
func rateHeaders(w http.ResponseWriter, limit, remaining int, reset time.Time) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
}
