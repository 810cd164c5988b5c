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
	if err := tr.Verify(r); err != nil {
		tr.Logger.WarnContext(r.Context(), "a task delivery was refused", "event", "task_refused", "reason", err.Error())
		apierror.Write(w, apierror.New(http.StatusForbidden, apierror.Authentication, "not a task of this service's queue"))
		return
	}
	var t jobs.Task
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTask))
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.ID == "" || t.Client == "" {
		// A task that cannot be read never will be: 200 ends its retries.
		tr.Logger.ErrorContext(r.Context(), "an unreadable task was dropped", "event", "job_orphan")
		w.WriteHeader(http.StatusOK)
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
