package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// getStored gives the owner a fresh link to a stored capture.
func (s *Server) getStored(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	auditEntry(r.Context()).CaptureID = id
	if s.getJob(w, r, principal(r.Context()).Client, id) {
		return
	}
	link, err := s.Store.Get(r.Context(), principal(r.Context()).Client, id)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	writeLink(w, r, http.StatusOK, link, nil)
}

// deleteStored deletes the owner's capture: the seeds' data deletion request.
func (s *Server) deleteStored(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	client := principal(r.Context()).Client
	auditEntry(r.Context()).CaptureID = id
	err := s.Store.Delete(r.Context(), client, id)
	if s.Async != nil {
		// An asynchronous capture's record goes with it: GET then says 404.
		// A queued one is then never run (the runner finds no record).
		switch jerr := s.Async.Records.DeleteRecord(r.Context(), client, "jobs", id); {
		case jerr == nil && errors.Is(err, store.ErrNotFound):
			err = nil // a job with no stored capture: queued, running or failed
		case jerr != nil && !errors.Is(jerr, store.ErrNotFound) && err == nil:
			err = jerr
		}
	}
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeStoreError: someone else's id and no id look the same, a 404.
func (s *Server) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, store.ErrNotFound) {
		s.Logger.ErrorContext(r.Context(), "capture storage failed", "event", "storage_error", "error", err)
		err = errStorage{err}
	}
	apierror.Write(w, answer(err))
}

// baseURL is the scheme and host the client reached the service at.
func baseURL(r *http.Request) string {
	return scheme(r) + "://" + r.Host
}

type linkBody struct {
	ID        string `json:"id"`
	Status    string `json:"status"` // always done: what GET /captures/{id} says of a job too
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
	Format    string `json:"format"`
	Bytes     int64  `json:"bytes"`
	// The comparison, when the capture asked for one.
	Diff *imagediff.Result `json:"diff,omitempty"`
}

// writeLink answers with a stored capture's link. The local store's links
// are paths on this service; they are made absolute with the address the
// client used.
func writeLink(w http.ResponseWriter, r *http.Request, status int, l store.Link, diff *imagediff.Result) {
	u := store.Absolute(l.URL, baseURL(r))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(linkBody{ID: l.ID, Status: "done", URL: u, ExpiresAt: l.Expires.UTC().Format(time.RFC3339), //nolint:errcheck // the client may be gone
		Format: l.Format, Bytes: l.Size, Diff: diff})
}
