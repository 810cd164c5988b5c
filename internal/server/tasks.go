package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
)

// TasksPath is where Cloud Tasks delivers a job. Nothing but a task with
// the invoker account's OIDC token is served there.
const TasksPath = "/internal/tasks/capture"

// TaskRoute serves Cloud Tasks' deliveries.
type TaskRoute struct {
	Verify  func(r *http.Request) error // the OIDC token: issuer, audience, account, expiry, signature
	Process func(r *http.Request, t jobs.Task) (again bool)
	Abandon func(r *http.Request, t jobs.Task) // the last attempt asked for another
	// MaxAttempts is the queue's retry_config.max_attempts (TASKS_MAX_ATTEMPTS).
	MaxAttempts int
	Logger      *slog.Logger
}

// maxTask bounds a task's body: a capture request, as MAX_BODY_BYTES does.
const maxTask = 10 << 20

func (tr *TaskRoute) serve(w http.ResponseWriter, r *http.Request) {
	var t jobs.Task
	if !internalCall(w, r, tr.Verify, tr.Logger, maxTask, &t, func() bool { return t.ID != "" && t.Client != "" }) {
		return
	}
	if tr.Process(r, t) {
		if tr.lastAttempt(r) {
			// The queue gives up after this answer: the job ends failed,
			// with its webhook, instead of staying queued for ever.
			tr.Abandon(r, t)
			w.WriteHeader(http.StatusOK)
			return
		}
		// Cloud Tasks retries with the queue's backoff.
		apierror.Write(w, apierror.New(http.StatusServiceUnavailable, apierror.Overloaded, "run again later"))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// lastAttempt reports whether Cloud Tasks makes no attempt after this one.
func (tr *TaskRoute) lastAttempt(r *http.Request) bool {
	n, err := strconv.Atoi(r.Header.Get("X-CloudTasks-TaskRetryCount"))
	return err == nil && tr.MaxAttempts > 0 && n+1 >= tr.MaxAttempts
}

// internalCall reads the body of a call from Google's side (a Cloud Tasks
// delivery, a Cloud Scheduler job) into v: only with the invoker's OIDC
// token (else a 403), at most limit bytes. A body that cannot be read, or
// lacks what complete checks, never will be: it is answered 200, which
// ends its retries. false when the call has been answered.
func internalCall(w http.ResponseWriter, r *http.Request, verify func(*http.Request) error, log *slog.Logger,
	limit int64, v any, complete func() bool,
) bool {
	if err := verify(r); err != nil {
		log.WarnContext(r.Context(), "an internal call was refused", "event", "task_refused", "path", r.URL.Path, "reason", err.Error())
		apierror.Write(w, apierror.New(http.StatusForbidden, apierror.Authentication, "not a call of this service's queue or scheduler"))
		return false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil || !complete() {
		log.ErrorContext(r.Context(), "an unreadable internal call was dropped", "event", "job_orphan", "path", r.URL.Path)
		w.WriteHeader(http.StatusOK)
		return false
	}
	return true
}
