package capture

import "github.com/pixashot/pixashot-cloudrun/internal/options"

// Kind is how a capture failed, for the server to answer: it maps each kind
// to a status once, and nothing here knows HTTP.
type Kind int

// The kinds of a failed capture.
const (
	Internal     Kind = iota // the service's fault
	Navigation               // the target failed, was refused, is a download, or crashed its renderer
	Timeout                  // a wait ran past the request's time or CAPTURE_TIMEOUT
	TooLarge                 // the output is over MAX_OUTPUT_BYTES
	Unavailable              // no browser now (it died or is restarting): retry
	TargetStatus             // the main document's status matched fail_on_http_status
	Unconfigured             // an option needs data this deployment did not install
	ProxyFailed              // the client's proxy (or the upstream) refused, failed or did not answer
)

// Error is a failed capture: Message is for the client, Cause only for logs.
type Error struct {
	Kind    Kind
	Message string
	Status  int // the target's HTTP status, for TargetStatus
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

func fail(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

// invalid is an option the page showed to be unusable (a selector the
// browser cannot parse, a page range past the end): the client's error.
func invalid(field, reason string) error { return &options.FieldError{Field: field, Reason: reason} }
