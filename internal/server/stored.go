package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// getStored gives the owner a fresh link to a stored capture.
func (s *Server) getStored(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	auditEntry(r.Context()).CaptureID = id
	link, err := s.Store.Get(r.Context(), principal(r.Context()).Client, id)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	writeLink(w, r, http.StatusOK, link)
}

// deleteStored deletes the owner's capture: the seeds' data deletion request.
func (s *Server) deleteStored(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	auditEntry(r.Context()).CaptureID = id
	if err := s.Store.Delete(r.Context(), principal(r.Context()).Client, id); err != nil {
		s.writeStoreError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeStoreError: someone else's id and no id look the same, a 404.
func (s *Server) writeStoreError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such capture"))
		return
	}
	s.Logger.Error("capture storage failed", "event", "storage_error", "error", err)
	apierror.Write(w, storageUnavailable(err))
}

func storageUnavailable(err error) *apierror.Error {
	return &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
		Message: "capture storage is unavailable; retry shortly", RetryAfter: 5 * time.Second, Cause: err}
}

type linkBody struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
	Format    string `json:"format"`
	Bytes     int64  `json:"bytes"`
}

// writeLink answers with a stored capture's link. The local store's links
// are paths on this service; they are made absolute with the address the
// client used.
func writeLink(w http.ResponseWriter, r *http.Request, status int, l store.Link) {
	u := l.URL
	if strings.HasPrefix(u, "/") {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		u = scheme + "://" + r.Host + u
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(linkBody{ID: l.ID, URL: u, ExpiresAt: l.Expires.UTC().Format(time.RFC3339), //nolint:errcheck // the client may be gone
		Format: l.Format, Bytes: l.Size})
}

// cacheHeader says whether an answer came from the capture cache.
const cacheHeader = "X-Cache"

// answerFromCache answers a request with cache_ttl from a capture the same
// client made of the same request, without opening the browser. It reports
// false when there is none; a failing store is a miss, so nothing is lost.
func (s *Server) answerFromCache(w http.ResponseWriter, r *http.Request, o *options.Options, fingerprint string) bool {
	client := principal(r.Context()).Client
	obj, ok, err := s.Store.Cached(r.Context(), client, fingerprint, o.CacheTTL)
	if err != nil {
		s.Logger.Warn("capture cache lookup failed; capturing", "event", "storage_error", "error", err)
	}
	if !ok {
		w.Header().Set(cacheHeader, "miss")
		return false
	}
	var link store.Link
	var data []byte
	if o.ResponseType == "url" {
		link, err = s.Store.Link(r.Context(), obj)
	} else {
		data, err = s.Store.Data(r.Context(), obj)
	}
	if err != nil {
		s.Logger.Warn("capture cache read failed; capturing", "event", "storage_error", "error", err)
		w.Header().Set(cacheHeader, "miss")
		return false
	}
	auditEntry(r.Context()).CaptureID = obj.ID
	w.Header().Set(cacheHeader, "hit")
	w.Header().Set("X-Capture-Id", obj.ID)
	if o.ResponseType == "url" {
		writeLink(w, r, http.StatusCreated, link)
	} else {
		writeCapture(w, o, data)
	}
	return true
}
