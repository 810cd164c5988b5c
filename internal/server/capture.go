package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

func (s *Server) postCapture(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apierror.Write(w, apierror.New(http.StatusRequestEntityTooLarge, apierror.PayloadTooLarge,
				"the request body is larger than "+strconv.FormatInt(s.MaxBodyBytes, 10)+" bytes"))
			return
		}
		apierror.Write(w, apierror.Invalid("body", "could not be read"))
		return
	}
	o, err := options.ParseJSON(body, s.Limits)
	s.serveCapture(w, r, o, err)
}

func (s *Server) getCapture(w http.ResponseWriter, r *http.Request) {
	o, err := options.ParseQuery(r.URL.Query(), s.Limits)
	s.serveCapture(w, r, o, err)
}

// serveCapture runs a parsed request: admission, capture, response.
func (s *Server) serveCapture(w http.ResponseWriter, r *http.Request, o *options.Options, err error) {
	if err != nil {
		writeOptionsError(w, err)
		return
	}
	var fingerprint string
	if o.CacheTTL > 0 {
		fingerprint = store.Fingerprint(principal(r.Context()).Client, o.Normalized())
		if s.answerFromCache(w, r, o, fingerprint) {
			return
		}
	}

	leave, err := s.Gate.Enter(r.Context(), principal(r.Context()).Client)
	switch {
	case errors.Is(err, admission.ErrClientBusy):
		apierror.Write(w, &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.RateLimit,
			Message:    "this client already runs as many captures at once as its share allows; retry when one finishes",
			RetryAfter: 2 * time.Second})
		return
	case errors.Is(err, admission.ErrOverloaded):
		apierror.Write(w, &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "too many captures in progress; retry shortly", RetryAfter: 2 * time.Second})
		return
	case err != nil:
		return // the client went away while queued
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.Timeout)
	defer cancel()
	id := newID()
	entry := auditEntry(r.Context())
	entry.CaptureID, entry.Target = id, targetHost(o)
	start := time.Now()
	res, release, err := s.Engine.Capture(ctx, id, o)
	// The tab is disposed after the response; the slot is held until then so
	// disposal never stacks up beyond MAX_CONCURRENCY.
	defer func() {
		go func() {
			release()
			leave()
		}()
	}()
	w.Header().Set("X-Capture-Id", id)
	log := s.Logger.With("capture", id, "client", principal(r.Context()).Client, "format", o.Format)
	if err != nil {
		ae := apierror.As(err)
		event := "capture_failed"
		if errors.Is(err, capture.ErrRendererCrashed) {
			event = "renderer_crashed"
		}
		log.Warn("capture failed", "event", event, "status", ae.Status, "error_type", ae.Type, "cause", errString(ae.Cause), "ms", time.Since(start).Milliseconds())
		apierror.Write(w, ae)
		return
	}
	log.Info("capture done", "bytes", len(res.Data), "ms", time.Since(start).Milliseconds(),
		"egress_bytes", res.Egress.Bytes, "egress_conns", res.Egress.Conns, "egress_blocked", res.Egress.Blocked,
		"phase_ms", res.Phases)
	if o.ResponseType != "url" && fingerprint == "" {
		writeCapture(w, o, res.Data)
		return
	}
	link, err := s.Store.Save(ctx, store.Object{ID: id, Client: principal(r.Context()).Client, Format: o.Format,
		ContentType: o.ContentType()}, fingerprint, res.Data)
	switch {
	case err == nil && o.ResponseType == "url":
		writeLink(w, r, http.StatusCreated, link)
	case err == nil:
		writeCapture(w, o, res.Data)
	case o.ResponseType == "url":
		// The client asked for a link and gets none: it is told, never a
		// dangling id.
		log.Error("storing the capture failed", "event", "storage_error", "error", err)
		apierror.Write(w, storageUnavailable(err))
	default:
		// The client has its bytes; only the cache entry is lost.
		log.Warn("caching the capture failed", "event", "storage_error", "error", err)
		writeCapture(w, o, res.Data)
	}
}

// targetHost is what the audit trail records of the target: its host, never
// the path or query (they can hold a third party's secrets).
func targetHost(o *options.Options) string {
	if o.HTMLContent != "" {
		return "html_content"
	}
	if u, err := url.Parse(o.URL); err == nil {
		return u.Host
	}
	return ""
}

// writeOptionsError answers a parse failure as a 400 naming the field.
func writeOptionsError(w http.ResponseWriter, err error) {
	var fe *options.FieldError
	if errors.As(err, &fe) {
		apierror.Write(w, apierror.Invalid(fe.Field, fe.Reason))
		return
	}
	apierror.Write(w, err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// writeCapture answers in the client's response_type.
func writeCapture(w http.ResponseWriter, o *options.Options, data []byte) {
	switch o.ResponseType {
	case "empty":
		w.WriteHeader(http.StatusNoContent)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{ //nolint:errcheck // the client may be gone
			"file":   base64.StdEncoding.EncodeToString(data),
			"format": o.Format,
		})
	default:
		w.Header().Set("Content-Type", o.ContentType())
		w.Header().Set("Content-Disposition", "attachment; filename=screenshot."+o.Format)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data) //nolint:errcheck // the client may be gone
	}
}
