package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/monitors"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/scheduler"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// MonitorPath is where Cloud Scheduler calls when a monitor is due: the
// call only queues the run, which comes back on TasksPath.
const MonitorPath = "/internal/tasks/monitor"

// Monitors is the monitors' side of the service (POST /monitors); nil when
// off. It runs on the async side's queue and records.
type Monitors struct {
	Schedules Schedules
	Max       int           // MONITORS_MAX per client
	MaxGap    time.Duration // the longest a schedule may leave between runs
	// Verify checks Cloud Scheduler's OIDC token on MonitorPath; nil with
	// the embedded clock (no such route).
	Verify func(r *http.Request) error
}

// Schedules fires monitors' runs (scheduler.Cloud, scheduler.Embedded).
type Schedules interface {
	Put(ctx context.Context, client, id, spec, tz string) error
	Delete(ctx context.Context, client, id string) error
}

// monitorSpec is POST /monitors' body.
type monitorSpec struct {
	Options   json.RawMessage `json:"options"`
	Schedule  string          `json:"schedule"`
	TimeZone  string          `json:"time_zone"`
	Webhook   string          `json:"webhook_url"`
	Threshold *float64        `json:"threshold"`
}

// defaultThreshold is the share of pixels that must change for a run to
// be news: 1%, above the noise a deterministic capture still has.
const defaultThreshold = 0.01

func (s *Server) parseMonitor(ctx context.Context, body []byte) (*monitors.Monitor, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, apierror.Invalid("body", `must be a JSON object: {"options": {...}, "schedule": "<cron>"}`)
	}
	var spec monitorSpec
	fields := map[string]any{"options": &spec.Options, "schedule": &spec.Schedule, "time_zone": &spec.TimeZone,
		"webhook_url": &spec.Webhook, "threshold": &spec.Threshold}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		field, ok := fields[k]
		if !ok {
			return nil, apierror.Invalid(k, "is not a monitor field (options, schedule, time_zone, webhook_url, threshold)")
		}
		if err := json.Unmarshal(top[k], field); err != nil {
			return nil, apierror.Invalid(k, "has the wrong type")
		}
	}
	if len(spec.Options) == 0 || spec.Options[0] != '{' {
		return nil, apierror.Invalid("options", "must be an object of capture options")
	}
	o, err := s.parseQueued(ctx, spec.Options)
	if err == nil {
		err = monitors.Refuse(o)
	}
	if err != nil {
		return nil, options.In("options", err)
	}
	if spec.Schedule == "" {
		return nil, apierror.Invalid("schedule", `is required: a five-field cron expression, such as "0 * * * *" for hourly`)
	}
	sched, err := scheduler.Parse(spec.Schedule, spec.TimeZone)
	if errors.Is(err, scheduler.ErrZone) {
		return nil, apierror.Invalid("time_zone", err.Error())
	}
	if err == nil {
		err = scheduler.Check(sched, time.Now(), monitors.MinInterval, s.Monitors.MaxGap)
	}
	if err != nil {
		return nil, apierror.Invalid("schedule", err.Error())
	}
	threshold := defaultThreshold
	if spec.Threshold != nil {
		if threshold = *spec.Threshold; threshold < 0 || threshold > 1 {
			return nil, apierror.Invalid("threshold", "must be a share of pixels between 0 and 1")
		}
	}
	if spec.Webhook != "" {
		if err := s.checkWebhook(ctx, spec.Webhook); err != nil {
			return nil, err
		}
	}
	var stored bytes.Buffer
	json.Compact(&stored, spec.Options) //nolint:errcheck // decoded above: valid JSON
	return &monitors.Monitor{ID: monitors.NewID(), Client: principal(ctx).Client, Options: stored.Bytes(),
		Schedule: spec.Schedule, TimeZone: spec.TimeZone, Webhook: spec.Webhook, Threshold: threshold}, nil
}

// postMonitor records a monitor, then schedules it; the answer's id is
// durable and scheduled when it returns.
func (s *Server) postMonitor(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		apierror.Write(w, err)
		return
	}
	m, err := s.parseMonitor(r.Context(), body)
	if err != nil {
		apierror.Write(w, answer(err))
		return
	}
	m.Created, m.Base = time.Now().UTC(), baseURL(r)
	ctx := r.Context()
	switch err := monitors.Add(ctx, s.Async.Records, m, s.Monitors.Max, m.Created); {
	case errors.Is(err, monitors.ErrTooMany):
		apierror.Write(w, apierror.New(http.StatusConflict, apierror.Conflict,
			"this client has "+strconv.Itoa(s.Monitors.Max)+" monitors, as many as it may (MONITORS_MAX); delete one first"))
		return
	case err != nil:
		s.writeStoreError(w, r, err)
		return
	}
	if err := s.Monitors.Schedules.Put(ctx, m.Client, m.ID, m.Schedule, m.TimeZone); err != nil {
		s.Logger.ErrorContext(ctx, "scheduling a monitor failed", "event", "monitor_error", "monitor", m.ID, "error", err)
		monitors.Remove(context.WithoutCancel(ctx), s.Async.Records, m.Client, m.ID) //nolint:errcheck // never answered: List skips it
		apierror.Write(w, &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "the scheduler is unavailable; retry shortly", RetryAfter: 5 * time.Second})
		return
	}
	auditEntry(ctx).CaptureID = m.ID
	writeJSON(w, http.StatusCreated, monitors.ViewOf(ctx, m, -1, s.Store.Get))
}

func (s *Server) listMonitors(w http.ResponseWriter, r *http.Request) {
	ms, err := monitors.List(r.Context(), s.Async.Records, principal(r.Context()).Client)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	out := make([]monitors.View, 0, len(ms))
	for _, m := range ms {
		out = append(out, monitors.ViewOf(r.Context(), m, 1, s.Store.Get))
	}
	writeJSON(w, http.StatusOK, map[string]any{"monitors": out})
}

// monitor reads the caller's monitor named in the path; nil after an answer.
func (s *Server) monitor(w http.ResponseWriter, r *http.Request) *monitors.Monitor {
	m, _, err := monitors.Get(r.Context(), s.Async.Records, principal(r.Context()).Client, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such monitor"))
		return nil
	}
	if err != nil {
		s.writeStoreError(w, r, err)
		return nil
	}
	return m
}

func (s *Server) getMonitor(w http.ResponseWriter, r *http.Request) {
	if m := s.monitor(w, r); m != nil {
		writeJSON(w, http.StatusOK, monitors.ViewOf(r.Context(), m, -1, s.Store.Get))
	}
}

// deleteMonitor unschedules first: a run that still arrives finds no record.
func (s *Server) deleteMonitor(w http.ResponseWriter, r *http.Request) {
	m := s.monitor(w, r)
	if m == nil {
		return
	}
	if err := s.Monitors.Schedules.Delete(r.Context(), m.Client, m.ID); err != nil {
		s.Logger.ErrorContext(r.Context(), "unscheduling a monitor failed", "event", "monitor_error", "monitor", m.ID, "error", err)
		apierror.Write(w, &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "the scheduler is unavailable; retry shortly", RetryAfter: 5 * time.Second})
		return
	}
	if err := monitors.Remove(r.Context(), s.Async.Records, m.Client, m.ID); err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// QueueRun hands a monitor's due run to the capture queue (the embedded
// clock's Fire, and Cloud Scheduler's call).
func (s *Server) QueueRun(ctx context.Context, client, id string, slot time.Time) error {
	return s.Async.Queue.Enqueue(ctx, []jobs.Task{monitors.Task(client, id, slot, "")})
}

// serveScheduled is Cloud Scheduler's call: the same OIDC check as a Cloud
// Tasks delivery, then the run is queued. A 503 makes the scheduler retry.
func (s *Server) serveScheduled(w http.ResponseWriter, r *http.Request) {
	var c scheduler.Call
	if !internalCall(w, r, s.Monitors.Verify, s.Logger, 4096, &c, func() bool { return c.Client != "" && c.ID != "" }) {
		return
	}
	slot, err := time.Parse(time.RFC3339, r.Header.Get("X-CloudScheduler-ScheduleTime"))
	if err != nil {
		slot = time.Now().UTC().Truncate(time.Minute)
	}
	if err := s.QueueRun(r.Context(), c.Client, c.ID, slot); err != nil {
		s.Logger.WarnContext(r.Context(), "queueing a monitor's run failed", "event", "queue_error", "monitor", c.ID, "error", err)
		apierror.Write(w, apierror.New(http.StatusServiceUnavailable, apierror.Overloaded, "run again later"))
		return
	}
	w.WriteHeader(http.StatusOK)
}
