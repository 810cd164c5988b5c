package server

import (
	"errors"
	"net/http"
	"syscall"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// errStorage marks a store failure on the way to an answer.
type errStorage struct{ err error }

func (e errStorage) Error() string { return "storage: " + e.err.Error() }
func (e errStorage) Unwrap() error { return e.err }

// answer is the one place a domain error becomes the contract's HTTP error.
func answer(err error) *apierror.Error {
	var (
		ae *apierror.Error
		fe *options.FieldError
		ce *capture.Error
		se errStorage
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, syscall.ENOSPC):
		// The instance's disk (/tmp, in memory on Cloud Run) is full: another
		// instance, or this one a little later, has room.
		return &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "the instance's storage is full; retry shortly", RetryAfter: 5 * time.Second, Cause: err}
	case errors.As(err, &fe):
		e := apierror.Invalid(fe.Field, fe.Reason)
		e.Cause = err
		return e
	case errors.Is(err, admission.ErrClientBusy):
		return &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.RateLimit,
			Message:    "this client already runs as many captures at once as its share allows; retry when one finishes",
			RetryAfter: 2 * time.Second, Cause: err}
	case errors.Is(err, admission.ErrOverloaded):
		return &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "too many captures in progress; retry shortly", RetryAfter: 2 * time.Second, Cause: err}
	case errors.As(err, &ce):
		return captureError(ce)
	case errors.Is(err, store.ErrNotFound):
		return &apierror.Error{Status: http.StatusNotFound, Type: apierror.NotFound, Message: "no such capture", Cause: err}
	case errors.Is(err, signing.ErrExpired):
		return &apierror.Error{Status: http.StatusForbidden, Type: apierror.SignatureExpired, Message: "the link has expired", Cause: err}
	case errors.Is(err, signing.ErrInvalid), errors.Is(err, signing.ErrAmbiguous):
		return &apierror.Error{Status: http.StatusForbidden, Type: apierror.InvalidSignature, Message: "the signature is not valid", Cause: err}
	case errors.As(err, &se):
		return &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "capture storage is unavailable; retry shortly", RetryAfter: 5 * time.Second, Cause: err}
	}
	return apierror.As(err)
}

func captureError(ce *capture.Error) *apierror.Error {
	e := &apierror.Error{Message: ce.Message, Cause: ce}
	switch ce.Kind {
	case capture.Navigation:
		e.Status, e.Type = http.StatusBadGateway, apierror.Navigation
	case capture.Timeout:
		e.Status, e.Type = http.StatusGatewayTimeout, apierror.CaptureTimeout
	case capture.TooLarge:
		e.Status, e.Type = http.StatusRequestEntityTooLarge, apierror.PayloadTooLarge
	case capture.TargetStatus:
		e.Status, e.Type, e.Target = http.StatusBadGateway, apierror.TargetStatus, ce.Status
	case capture.Unconfigured:
		e.Status, e.Type = http.StatusNotImplemented, apierror.Unconfigured
	case capture.ProxyFailed:
		e.Status, e.Type = http.StatusBadGateway, apierror.Proxy
	case capture.Unavailable:
		e.Status, e.Type, e.RetryAfter = http.StatusServiceUnavailable, apierror.Overloaded, time.Second
	default:
		e.Status, e.Type = http.StatusInternalServerError, apierror.Internal
	}
	return e
}
