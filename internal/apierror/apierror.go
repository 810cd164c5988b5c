// Package apierror is the one error format every endpoint answers with. Only
// what is set here reaches the client: never an internal error's text.
package apierror

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The contract's error types.
const (
	Validation       = "ValidationError"
	Authentication   = "AuthenticationError"
	InvalidSignature = "InvalidSignatureError"
	SignatureExpired = "SignatureExpiredError"
	NotFound         = "NotFound"
	MethodNotAllowed = "MethodNotAllowed"
	PayloadTooLarge  = "PayloadTooLarge"
	RateLimit        = "RateLimitError"
	CaptureTimeout   = "CaptureTimeout"
	Navigation       = "NavigationError"
	Overloaded       = "Overloaded"
	Conflict         = "Conflict" // the same Idempotency-Key is still being answered
	Internal         = "InternalError"
	TargetStatus     = "TargetStatusError"  // fail_on_http_status matched
	Unconfigured     = "FeatureUnavailable" // the deployment lacks what an option needs
	Proxy            = "ProxyError"         // the client's proxy (or the upstream) refused, failed or did not answer
	DiffExceeded     = "DiffExceeded"       // the capture differs from its baseline past fail_on_diff_ratio
)

// Types lists every error type, for the API description.
var Types = []string{Validation, Authentication, InvalidSignature, SignatureExpired, NotFound, MethodNotAllowed,
	PayloadTooLarge, RateLimit, CaptureTimeout, Navigation, Overloaded, Conflict, Internal, TargetStatus, Unconfigured, Proxy, DiffExceeded}

// Error is an error meant for the client.
type Error struct {
	Status     int
	Type       string
	Message    string
	Field      string        // validation errors only
	Target     int           // the target's HTTP status, for TargetStatus
	RetryAfter time.Duration // 409, 429 and 503
	Diff       any           // DiffExceeded: the figures and the diff's url
	Cause      error         // for logs, never sent
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Type + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Type + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// New makes a client error.
func New(status int, typ, msg string) *Error {
	return &Error{Status: status, Type: typ, Message: msg}
}

// Invalid is a 400 naming the field.
func Invalid(field, reason string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: Validation, Message: field + " " + reason, Field: field}
}

type body struct {
	Status     string `json:"status"`
	ErrorType  string `json:"error_type"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"`
	Target     int    `json:"target_status,omitempty"`
	Diff       any    `json:"diff,omitempty"`
	Timestamp  string `json:"timestamp"`
}

// As returns err as a client error; anything else becomes a 500 that says nothing.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Type: Internal, Message: "internal error", Cause: err}
}

// Write sends err in the contract's format.
func Write(w http.ResponseWriter, err error) {
	e := As(err)
	b := body{Status: "error", ErrorType: e.Type, Message: e.Message, Field: e.Field, Target: e.Target, Diff: e.Diff,
		Timestamp: time.Now().UTC().Format(time.RFC3339)}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		b.RetryAfter = secs
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Disposition")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(b) //nolint:errcheck // the client may be gone
}
