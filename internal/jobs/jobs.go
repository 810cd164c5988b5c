// Package jobs runs asynchronous captures: a job's state record, the queue
// that carries it (Cloud Tasks, or a durable queue in the process), and the
// runner that takes it from queued to done or failed and then calls its
// webhook. The capture itself is a seam (Runner.Capture): the server's own
// pipeline, so an async capture is exactly a synchronous one.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// The states of a job.
const (
	Queued  = "queued"
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// The states of a webhook delivery.
const (
	Pending   = "pending"
	Delivered = "delivered"
	// Failed, as for jobs: retries ran out or the address was refused.
)

// Job is the state of one asynchronous capture. It never holds the request
// (which can carry a client's headers, cookies and scripts): that lives only
// in the queue, until the job ends.
type Job struct {
	ID        string    `json:"id"`
	Client    string    `json:"client"`
	Batch     string    `json:"batch_id,omitempty"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created_at"`
	Updated   time.Time `json:"updated_at"`
	Attempts  int       `json:"attempts"`
	Format    string    `json:"format,omitempty"`
	Bytes     int64     `json:"bytes,omitempty"`
	ErrorType string    `json:"error_type,omitempty"`
	Message   string    `json:"message,omitempty"`
	Webhook   *Delivery `json:"webhook,omitempty"`
	// Diff is the comparison of a capture with compare_to or baseline.
	Diff *imagediff.Result `json:"diff,omitempty"`
	// Base is the scheme and host the client submitted to: a link the
	// local store gives as a path is made absolute with it.
	Base string `json:"base,omitempty"`
}

// Delivery is the state of a job's webhook.
type Delivery struct {
	URL      string `json:"url"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Status   int    `json:"status,omitempty"` // the receiver's last answer
}

// Batch lists the jobs one request submitted.
type Batch struct {
	ID      string    `json:"batch_id"`
	Client  string    `json:"client"`
	IDs     []string  `json:"ids"`
	Created time.Time `json:"created_at"`
}

// Task is what a queue carries: the job and its request.
type Task struct {
	ID      string          `json:"id"`
	Client  string          `json:"client"`
	Request json.RawMessage `json:"request"` // capture options, validated at submit
	// The submit's span (W3C traceparent): the job's spans continue its
	// trace through the queue.
	Trace string `json:"trace,omitempty"`
	// Monitor names the monitor whose run this is (its capture's too), and
	// Slot the time its schedule named; empty for an async capture.
	Monitor string    `json:"monitor,omitempty"`
	Slot    time.Time `json:"slot,omitzero"`
}

// Records keep jobs, batches and idempotency keys (store.Store).
type Records interface {
	PutRecord(ctx context.Context, client, kind, key string, data []byte) error
	// CreateRecord and SwapRecord write only where nothing is, and only over
	// what was read (store.ErrExists, store.ErrChanged otherwise).
	CreateRecord(ctx context.Context, client, kind, key string, data []byte) error
	SwapRecord(ctx context.Context, client, kind, key string, old, data []byte) error
	GetRecord(ctx context.Context, client, kind, key string) ([]byte, error)
	DeleteRecord(ctx context.Context, client, kind, key string) error
}

// Queue carries tasks to a Runner. Enqueue returns once every task is
// durable: a task it accepted is run even if this process dies next.
type Queue interface {
	Enqueue(ctx context.Context, tasks []Task) error
}

// ErrFull is a queue at QUEUE_MAX; ErrTooLarge a task its queue cannot carry.
var (
	ErrFull = errors.New("jobs: the queue is full")
	// ErrClientFull is a client's tasks at CLIENT_QUEUE_MAX.
	ErrClientFull = errors.New("jobs: the client's share of the queue is full")
	ErrTooLarge   = errors.New("jobs: a task is larger than the queue carries")
)

// Result is how a capture ended, as the runner needs it.
type Result struct {
	Format    string
	Bytes     int64
	ErrorType string // empty: done
	Message   string
	Busy      bool // no capture slot now: run again later, not an attempt
	Retry     bool // a transient failure (the browser restarting): another attempt may succeed
	Diff      *imagediff.Result
}

// Runner takes a task from its state to the end.
type Runner struct {
	Records Records
	Capture func(ctx context.Context, t Task) Result
	Sender  *webhook.Sender
	Keys    func(client string) [][]byte // the client's webhook keys, newest first; none: no webhooks
	Link    func(ctx context.Context, client, id string) (store.Link, error)
	// Deliveries, if set, carries webhooks to Deliver, off the workers that
	// capture: a slow receiver holds a delivery worker, never a capture's.
	Deliveries  Queue
	Logger      *slog.Logger
	MaxAttempts int // captures per job; default 3
	Metrics     *telemetry.Metrics
	Tracer      trace.Tracer // nil: no spans
	now         func() time.Time
}

// span starts name for the job id: a child of the span traceparent names
// (the submit's, carried through the queue) and linked to ctx's own (a
// Cloud Tasks delivery), or else a child of ctx's.
func (r *Runner) span(ctx context.Context, name, id, traceparent string) (context.Context, trace.Span) {
	if r.Tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	opts := []trace.SpanStartOption{trace.WithAttributes(attribute.String("pixashot.capture_id", id))}
	if traceparent != "" {
		opts = append(opts, trace.WithLinks(trace.LinkFromContext(ctx)))
		ctx = telemetry.FromTraceParent(ctx, traceparent)
	}
	return r.Tracer.Start(ctx, name, opts...)
}

func (r *Runner) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now().UTC()
}

// Get reads a job's record.
func Get(ctx context.Context, rec Records, client, id string) (*Job, error) {
	b, err := rec.GetRecord(ctx, client, "jobs", id)
	if err != nil {
		return nil, err
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("jobs: record %s: %w", id, err)
	}
	return &j, nil
}

// Put writes a job's record.
func Put(ctx context.Context, rec Records, j *Job) error {
	b, _ := json.Marshal(j) // plain data
	return rec.PutRecord(ctx, j.Client, "jobs", j.ID, b)
}

// Process runs t. again reports that the queue should offer it once more
// (no slot, a transient failure, or ctx ended before the job did); every
// other return leaves the job done or failed with its webhook called.
// A job already done is never captured again: the record says so first.
func (r *Runner) Process(ctx context.Context, t Task) (again bool) {
	ctx, span := r.span(ctx, "job", t.ID, t.Trace)
	defer span.End()
	log := r.Logger.With("capture", t.ID, "client", t.Client)
	j, err := Get(ctx, r.Records, t.Client, t.ID)
	if errors.Is(err, store.ErrNotFound) {
		log.Error("a queued job has no record; dropped", "event", "job_orphan")
		return false
	}
	if err != nil {
		log.Warn("reading a job failed; retrying", "event", "storage_error", "error", err)
		return true
	}
	if j.Status == Done || j.Status == Failed {
		// It ended in a process that died before its queue entry was
		// removed, maybe before it logged the end: only the webhook is left.
		log.Info("async capture had already ended", "event", "job_already_ended", "status", j.Status)
		return r.handOff(ctx, j, log)
	}
	maxAttempts := r.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 3
	}
	if j.Attempts == 0 {
		r.Metrics.JobStarted(ctx, r.clock().Sub(j.Created))
	}
	j.Status, j.Attempts, j.Updated = Running, j.Attempts+1, r.clock()
	if err := Put(ctx, r.Records, j); err != nil {
		log.Warn("recording a job's start failed; retrying", "event", "storage_error", "error", err)
		return true
	}
	res := r.Capture(ctx, t)
	switch {
	case ctx.Err() != nil:
		// Shutting down: the job is run again at the next start.
		return true
	case res.Busy, res.Retry && j.Attempts < maxAttempts:
		if res.Busy {
			j.Attempts--
		}
		j.Status, j.Updated = Queued, r.clock()
		if err := Put(ctx, r.Records, j); err != nil {
			log.Warn("requeueing a job failed", "event", "storage_error", "error", err)
		}
		return true
	case res.ErrorType == "":
		j.Status, j.Format, j.Bytes = Done, res.Format, res.Bytes
	default:
		j.Status, j.ErrorType, j.Message = Failed, res.ErrorType, res.Message
	}
	j.Diff = res.Diff
	j.Updated = r.clock()
	if err := Put(ctx, r.Records, j); err != nil {
		// The capture is stored under the job's id; the next run finds it
		// not done and captures again, which the id makes idempotent.
		log.Warn("recording a job's end failed; retrying", "event", "storage_error", "error", err)
		return true
	}
	log.Info("async capture ended", "event", "job_"+j.Status, "attempts", j.Attempts)
	return r.handOff(ctx, j, log)
}

// handOff queues an ended job's webhook for delivery, or delivers it here
// when there is no delivery queue or it refuses.
func (r *Runner) handOff(ctx context.Context, j *Job, log *slog.Logger) (again bool) {
	if j.Webhook == nil || j.Webhook.State != Pending {
		return false
	}
	if r.Deliveries != nil {
		err := r.Deliveries.Enqueue(ctx, []Task{{ID: j.ID, Client: j.Client, Trace: telemetry.TraceParent(ctx)}})
		if err == nil {
			return false
		}
		log.Warn("queueing a webhook failed; delivering it from the capture worker", "event", "queue_error", "error", err)
	}
	return r.notify(ctx, j, log)
}

// Deliver sends the webhook of the ended job t names (the delivery queue's
// run); again asks the queue to offer it once more.
func (r *Runner) Deliver(ctx context.Context, t Task) (again bool) {
	// The delivery continues its job's trace; notify draws its span.
	ctx = telemetry.FromTraceParent(ctx, t.Trace)
	log := r.Logger.With("capture", t.ID, "client", t.Client)
	j, err := Get(ctx, r.Records, t.Client, t.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false // deleted by its client meanwhile
	}
	if err != nil {
		log.Warn("reading a job failed; retrying", "event", "storage_error", "error", err)
		return true
	}
	return r.notify(ctx, j, log)
}

// Abandon ends a job its queue will not offer again (Cloud Tasks' last
// attempt): failed, with why, and its webhook called. A job already ended
// is left as it is.
func (r *Runner) Abandon(ctx context.Context, t Task, errorType, message string) {
	log := r.Logger.With("capture", t.ID, "client", t.Client)
	j, err := Get(ctx, r.Records, t.Client, t.ID)
	if err != nil {
		log.Error("an abandoned job could not be read", "event", "storage_error", "error", err)
		return
	}
	if j.Status != Done && j.Status != Failed {
		j.Status, j.ErrorType, j.Message, j.Updated = Failed, errorType, message, r.clock()
		if err := Put(ctx, r.Records, j); err != nil {
			log.Error("recording an abandoned job failed", "event", "storage_error", "error", err)
			return
		}
		log.Warn("async capture abandoned: its retries ran out", "event", "job_failed", "attempts", j.Attempts)
	}
	r.notify(ctx, j, log)
}

// Event is the webhook's body: the Standard Webhooks shape (type,
// timestamp, data).
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      View      `json:"data"`
}

// View is what a client sees of a job (GET /captures/{id}, webhooks).
type View struct {
	ID        string            `json:"id"`
	Batch     string            `json:"batch_id,omitempty"`
	Status    string            `json:"status"`
	Created   time.Time         `json:"created_at"`
	URL       string            `json:"url,omitempty"`
	ExpiresAt string            `json:"expires_at,omitempty"`
	Format    string            `json:"format,omitempty"`
	Bytes     int64             `json:"bytes,omitempty"`
	ErrorType string            `json:"error_type,omitempty"`
	Message   string            `json:"message,omitempty"`
	Webhook   *Delivery         `json:"webhook,omitempty"`
	Diff      *imagediff.Result `json:"diff,omitempty"`
}

// ViewOf is the client's view of j, with a fresh download link when done;
// base makes a link the local store gives as a path absolute.
func ViewOf(ctx context.Context, j *Job, link func(ctx context.Context, client, id string) (store.Link, error), base string) View {
	v := View{ID: j.ID, Batch: j.Batch, Status: j.Status, Created: j.Created, Format: j.Format, Bytes: j.Bytes,
		ErrorType: j.ErrorType, Message: j.Message, Webhook: j.Webhook}
	if j.Status == Done && link != nil {
		if l, err := link(ctx, j.Client, j.ID); err == nil {
			v.URL, v.ExpiresAt = store.Absolute(l.URL, base), l.Expires.UTC().Format(time.RFC3339)
		}
	}
	v.Diff = DiffView(ctx, j.Diff, link, j.Client, base)
	return v
}

// DiffView is a stored comparison as a client sees it: with a fresh link
// to its diff image (none once the image is gone); nil for none.
func DiffView(ctx context.Context, d *imagediff.Result, link func(ctx context.Context, client, id string) (store.Link, error), client, base string) *imagediff.Result {
	if d == nil {
		return nil
	}
	v := *d
	v.URL = ""
	if link != nil {
		if l, err := link(ctx, client, v.ID); err == nil {
			v.URL = store.Absolute(l.URL, base)
		}
	}
	return &v
}

// notify calls the job's webhook once it has ended, and records how that went.
func (r *Runner) notify(ctx context.Context, j *Job, log *slog.Logger) (again bool) {
	if j.Webhook == nil || j.Webhook.State != Pending {
		return false
	}
	ctx, span := r.span(ctx, "webhook", j.ID, "")
	defer span.End()
	keys := r.Keys(j.Client)
	if len(keys) == 0 {
		j.Webhook.State = Failed
		r.Metrics.WebhookDelivered(ctx, "no_key")
		log.Error("no webhook key for the client; the webhook is not sent", "event", "webhook_failed")
	} else {
		data := ViewOf(ctx, j, r.Link, j.Base)
		data.Webhook = nil // its own state is not news to the receiver
		body, _ := json.Marshal(Event{Type: "capture." + j.Status, Timestamp: r.clock(), Data: data})
		res := r.Sender.Send(ctx, j.Webhook.URL, keys, "msg_"+j.ID, body)
		if ctx.Err() != nil && !res.Delivered {
			return true // shutting down: sent again at the next start
		}
		j.Webhook.Attempts += res.Attempts
		j.Webhook.Status = res.Status
		j.Webhook.State = Failed
		if res.Delivered {
			j.Webhook.State = Delivered
		}
		r.Metrics.WebhookDelivered(ctx, j.Webhook.State)
		lvl := slog.LevelInfo
		if !res.Delivered {
			lvl = slog.LevelWarn
		}
		log.Log(ctx, lvl, "webhook "+j.Webhook.State, "event", "webhook_"+j.Webhook.State, "attempts", res.Attempts,
			"status", res.Status, "error", res.Error)
	}
	if err := Put(ctx, r.Records, j); err != nil {
		log.Warn("recording a webhook's delivery failed", "event", "storage_error", "error", err)
	}
	return false
}
