package monitors

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// Runner runs a monitor when its schedule hands a run to the queue.
type Runner struct {
	Records jobs.Records
	// Capture is the server's pipeline, as for an async job: the capture is
	// stored under the task's id, and compared with compare_to.
	Capture func(ctx context.Context, t jobs.Task) jobs.Result
	Link    func(ctx context.Context, client, id string) (store.Link, error)
	Sender  *webhook.Sender
	Keys    func(client string) [][]byte // the client's webhook keys, newest first
	// Forget unschedules a monitor whose record is gone (deleted, or past
	// the lifecycle while its schedule lived on).
	Forget func(ctx context.Context, client, id string) error
	Logger *slog.Logger
	now    func() time.Time
}

func (r *Runner) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now().UTC()
}

// slotName writes a slot in a task's name and a webhook's id.
const slotName = "20060102T1504"

// Task is the queue's entry for the run of monitor id at slot. Its name
// holds both, so the slot fired twice is queued once on Cloud Tasks.
func Task(client, id string, slot time.Time, trace string) jobs.Task {
	return jobs.Task{ID: id + "-" + slot.UTC().Format(slotName), Client: client, Monitor: id, Slot: slot.UTC(), Trace: trace}
}

// Run captures, compares with the last run's capture, records the run and
// calls the webhook if there is news; again asks the queue to offer the run
// once more (no capture slot now, or the record could not be read).
func (r *Runner) Run(ctx context.Context, t jobs.Task) (again bool) {
	log := r.Logger.With("monitor", t.Monitor, "client", t.Client)
	m, _, err := Get(ctx, r.Records, t.Client, t.Monitor)
	if errors.Is(err, store.ErrNotFound) {
		log.Info("a monitor's run found no monitor; its schedule is removed", "event", "monitor_gone")
		if err := r.Forget(ctx, t.Client, t.Monitor); err != nil {
			log.Warn("removing a gone monitor's schedule failed", "event", "monitor_error", "error", err)
		}
		return false
	}
	if err != nil {
		log.Warn("reading a monitor failed; retrying", "event", "storage_error", "error", err)
		return true
	}
	slot := t.Slot
	if slot.IsZero() {
		slot = r.clock()
	}
	if !m.LastSlot.IsZero() && slot.Sub(m.LastSlot) < MinInterval {
		// The same slot delivered again, or a schedule edited by hand.
		log.Info("a monitor's run came too soon after the last; skipped", "event", "monitor_run_skipped", "slot", slot)
		return false
	}
	id := NewID()
	res := r.Capture(ctx, jobs.Task{ID: id, Client: t.Client, Monitor: m.ID, Trace: telemetry.TraceParent(ctx),
		Request: r.request(ctx, m)})
	if ctx.Err() != nil || res.Busy {
		return true
	}
	run := Run{At: slot, Status: Failed, ErrorType: res.ErrorType, Message: res.Message}
	if res.ErrorType == "" {
		run.Status, run.Capture, run.Diff = Baseline, id, res.Diff
		if res.Diff != nil {
			run.Status = Unchanged
			if res.Diff.MismatchRatio > m.Threshold {
				run.Status = Changed
			}
		}
	}
	m, err = r.record(ctx, t, run)
	if errors.Is(err, store.ErrNotFound) {
		return false // deleted while it ran
	}
	if err != nil {
		log.Warn("recording a monitor's run failed", "event", "storage_error", "error", err)
		return false // the next slot runs it again; retrying here would capture twice
	}
	if err := touch(ctx, r.Records, m.Client, r.clock()); err != nil {
		log.Warn("refreshing a client's monitor index failed", "event", "storage_error", "error", err)
	}
	log.Info("monitor ran", "event", "monitor_"+run.Status, "capture", run.Capture)
	switch {
	case run.Status == Changed:
		r.notify(ctx, m, "monitor.changed", run, log)
	case run.Status == Failed && m.Failures == 2:
		// Once per streak: the second failure in a row, not every one after.
		r.notify(ctx, m, "monitor.failed", run, log)
	}
	return false
}

// request is the monitor's options, compared with its last capture if that
// is still stored (else this run is a new baseline).
func (r *Runner) request(ctx context.Context, m *Monitor) json.RawMessage {
	var o map[string]json.RawMessage
	if json.Unmarshal(m.Options, &o) != nil || o == nil {
		o = map[string]json.RawMessage{}
	}
	o["response_type"] = json.RawMessage(`"url"`)
	if m.Last != "" {
		if _, err := r.Link(ctx, m.Client, m.Last); err == nil {
			o["compare_to"], _ = json.Marshal(m.Last)
		}
	}
	b, _ := json.Marshal(o)
	return b
}

// record adds run to the monitor's record, over what another writer may
// have written meanwhile (never over a deletion).
func (r *Runner) record(ctx context.Context, t jobs.Task, run Run) (*Monitor, error) {
	for range 4 {
		m, raw, err := Get(ctx, r.Records, t.Client, t.Monitor)
		if err != nil {
			return nil, err
		}
		m.Runs = append([]Run{run}, m.Runs...)[:min(len(m.Runs)+1, keptRuns)]
		m.LastSlot = run.At
		if run.Status == Failed {
			m.Failures++
		} else {
			m.Last, m.Failures = run.Capture, 0
		}
		b, _ := json.Marshal(m)
		err = r.Records.SwapRecord(ctx, t.Client, "monitors", t.Monitor, raw, b)
		if !errors.Is(err, store.ErrChanged) {
			return m, err
		}
	}
	return nil, errors.New("monitors: the record keeps changing")
}

// Event is a monitor's webhook body (the Standard Webhooks shape).
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData names the monitor and the run that is news.
type EventData struct {
	Monitor   string  `json:"monitor_id"`
	Threshold float64 `json:"threshold"`
	Run       RunView `json:"run"`
}

func (r *Runner) notify(ctx context.Context, m *Monitor, typ string, run Run, log *slog.Logger) {
	if m.Webhook == "" {
		return
	}
	keys := r.Keys(m.Client)
	if len(keys) == 0 {
		log.Error("no webhook key for the client; the webhook is not sent", "event", "webhook_failed")
		return
	}
	body, _ := json.Marshal(Event{Type: typ, Timestamp: r.clock(),
		Data: EventData{Monitor: m.ID, Threshold: m.Threshold, Run: viewRun(ctx, m, run, r.Link)}})
	msg := "msg_" + m.ID + "_" + run.At.UTC().Format(slotName)
	res := r.Sender.Send(ctx, m.Webhook, keys, msg, body)
	state := "delivered"
	if !res.Delivered {
		state = "failed"
	}
	log.Info("monitor webhook "+state, "event", "webhook_"+state, "type", typ, "attempts", res.Attempts, "status", res.Status, "error", res.Error)
}

// View is what a client sees of a monitor.
type View struct {
	ID        string          `json:"id"`
	Schedule  string          `json:"schedule"`
	TimeZone  string          `json:"time_zone,omitempty"`
	Webhook   string          `json:"webhook_url,omitempty"`
	Threshold float64         `json:"threshold"`
	Options   json.RawMessage `json:"options"`
	Created   time.Time       `json:"created_at"`
	Failures  int             `json:"failures_in_a_row,omitempty"`
	Runs      []RunView       `json:"runs"`
}

// RunView is a run with fresh links to its capture and diff image.
type RunView struct {
	At         time.Time         `json:"at"`
	Status     string            `json:"status"`
	CaptureID  string            `json:"capture_id,omitempty"`
	CaptureURL string            `json:"capture_url,omitempty"`
	Diff       *imagediff.Result `json:"diff,omitempty"`
	ErrorType  string            `json:"error_type,omitempty"`
	Message    string            `json:"message,omitempty"`
}

// ViewOf is the client's view of m with its last runs runs (all: -1).
func ViewOf(ctx context.Context, m *Monitor, runs int, link func(ctx context.Context, client, id string) (store.Link, error)) View {
	v := View{ID: m.ID, Schedule: m.Schedule, TimeZone: m.TimeZone, Webhook: m.Webhook, Threshold: m.Threshold,
		Options: m.Options, Created: m.Created, Failures: m.Failures, Runs: []RunView{}}
	for i, run := range m.Runs {
		if runs >= 0 && i >= runs {
			break
		}
		v.Runs = append(v.Runs, viewRun(ctx, m, run, link))
	}
	return v
}

func viewRun(ctx context.Context, m *Monitor, run Run, link func(ctx context.Context, client, id string) (store.Link, error)) RunView {
	v := RunView{At: run.At, Status: run.Status, CaptureID: run.Capture, ErrorType: run.ErrorType, Message: run.Message}
	if run.Capture != "" {
		if l, err := link(ctx, m.Client, run.Capture); err == nil {
			v.CaptureURL = store.Absolute(l.URL, m.Base)
		}
	}
	v.Diff = jobs.DiffView(ctx, run.Diff, link, m.Client, m.Base)
	return v
}
