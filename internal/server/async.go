package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/audit"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// Async is the asynchronous side of the service (POST /captures); nil when
// the service has no storage for it.
type Async struct {
	Queue    jobs.Queue
	Records  jobs.Records
	BatchMax int
	// CheckAddress applies the egress policy to a webhook's host and port
	// at submit, so an address the delivery would be refused is a 400 now.
	CheckAddress func(ctx context.Context, host string, port int) error
	// CheckProxy applies it to a capture's proxy option (the run checks again).
	CheckProxy  func(ctx context.Context, o *options.Options) error
	WebhookKeys func(client string) [][]byte // none: no webhooks for the client
	// Tasks verifies and runs a Cloud Tasks delivery; nil with the embedded queue.
	Tasks *TaskRoute

	// One submission per idempotency key at a time in this process: keys
	// hash onto a fixed set of locks, so memory stays bounded.
	idem [64]sync.Mutex
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// idempotencyWindow is how long a key returns the same jobs.
const idempotencyWindow = 24 * time.Hour

// claimTTL is how long a claimed key waits for its answer before another
// request may take it over; the submission holding it is cut short before.
const claimTTL = 2 * time.Minute

// idemRecord is one client's key. While the first request with the key is
// submitted it is a claim (Owner set, no Response); then the answer. The
// store creates and replaces it only conditionally, so across instances
// one request submits and the others replay it, or are told to wait.
type idemRecord struct {
	BodySHA  string          `json:"body_sha256"`
	Created  time.Time       `json:"created_at"`
	Owner    string          `json:"owner,omitempty"`
	Response json.RawMessage `json:"response,omitempty"`
	Released bool            `json:"released,omitempty"` // the submission failed: the key is free
}

// free reports whether a record no longer holds its key: released, past
// the window, or a claim whose instance never answered.
func (r *idemRecord) free(now time.Time) bool {
	return r.Released || now.Sub(r.Created) > idempotencyWindow || (r.Response == nil && now.Sub(r.Created) > claimTTL)
}

// claim is a key this request holds until it records its answer.
type claim struct {
	s           *Server
	client, sha string
	rec         idemRecord
	held        []byte // rec as written, for the conditional writes
}

func keyConflict(msg string) error {
	return &apierror.Error{Status: http.StatusConflict, Type: apierror.Conflict, RetryAfter: time.Second, Message: msg}
}

// claimKey answers a key already answered (the same answer for the same
// body, a 400 for another), tells a request whose key another request is
// still answering to retry (409), and otherwise claims the key.
func (s *Server) claimKey(ctx context.Context, client, key string, body []byte) (*claim, []byte, error) {
	c := &claim{s: s, client: client, sha: sha([]byte(key))}
	bodySHA := sha(body)
	for range 3 {
		cur, err := s.Async.Records.GetRecord(ctx, client, "idempotency", c.sha)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, errStorage{err}
		}
		now := time.Now().UTC()
		var rec idemRecord
		if err == nil && json.Unmarshal(cur, &rec) == nil && !rec.free(now) {
			switch {
			case rec.BodySHA != bodySHA:
				return nil, nil, apierror.Invalid("Idempotency-Key", "was used with another request body in the last 24 hours")
			case rec.Response != nil:
				return nil, rec.Response, nil
			}
			return nil, nil, keyConflict("a request with this Idempotency-Key is still being answered; retry to get its answer")
		}
		c.rec = idemRecord{BodySHA: bodySHA, Created: now, Owner: newID()}
		c.held, _ = json.Marshal(c.rec)
		if errors.Is(err, store.ErrNotFound) {
			err = s.Async.Records.CreateRecord(ctx, client, "idempotency", c.sha, c.held)
		} else {
			err = s.Async.Records.SwapRecord(ctx, client, "idempotency", c.sha, cur, c.held)
		}
		switch {
		case err == nil:
			return c, nil, nil
		case !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrChanged):
			return nil, nil, errStorage{err}
		}
		// Another request wrote first: read what it wrote.
	}
	return nil, nil, keyConflict("requests with this Idempotency-Key keep arriving at once; retry")
}

// answered records the answer for replays; released frees the key of a
// submission that queued nothing. Each replaces only the claim itself.
func (c *claim) answered(ctx context.Context, resp []byte) {
	if c == nil {
		return
	}
	rec := c.rec
	rec.Owner, rec.Response = "", resp
	c.replace(ctx, rec)
}

func (c *claim) released(ctx context.Context) {
	if c == nil {
		return
	}
	rec := c.rec
	rec.Released = true
	c.replace(ctx, rec)
}

func (c *claim) replace(ctx context.Context, rec idemRecord) {
	b, _ := json.Marshal(rec)
	// Written before the answer, so that a retry finds it; a client that
	// leaves meanwhile must not cut it short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.s.Async.Records.SwapRecord(ctx, c.client, "idempotency", c.sha, c.held, b); err != nil {
		// Retries with the key find the claim and wait (409) until it is
		// stale (claimTTL), then submit again.
		c.s.Logger.WarnContext(ctx, "recording an idempotency key failed", "event", "storage_error", "error", err)
	}
}

// submission is one POST /captures, parsed.
type submission struct {
	items   []json.RawMessage // each item's options
	webhook string
	batch   bool
}

// parseSubmission validates every item before anything is queued.
func (s *Server) parseSubmission(ctx context.Context, body []byte) (*submission, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, apierror.Invalid("body", "must be a JSON object of capture options, or {\"batch\": [...]}")
	}
	sub := &submission{}
	if raw, ok := top["webhook_url"]; ok {
		if json.Unmarshal(raw, &sub.webhook) != nil {
			return nil, apierror.Invalid("webhook_url", "must be a string")
		}
		delete(top, "webhook_url")
	}
	if raw, ok := top["batch"]; ok {
		sub.batch = true
		delete(top, "batch")
		for k := range top {
			return nil, apierror.Invalid(k, "is not allowed beside batch: each item holds its own options")
		}
		if json.Unmarshal(raw, &sub.items) != nil {
			return nil, apierror.Invalid("batch", "must be an array of capture options")
		}
		if len(sub.items) == 0 || len(sub.items) > s.Async.BatchMax {
			return nil, apierror.Invalid("batch", "must hold between 1 and "+strconv.Itoa(s.Async.BatchMax)+" items (BATCH_MAX)")
		}
	} else {
		b, _ := json.Marshal(top) // decoded JSON: cannot fail
		sub.items = []json.RawMessage{b}
	}
	for i, item := range sub.items {
		_, err := s.parseQueued(ctx, item)
		if err != nil && sub.batch {
			return nil, options.InItem("batch", i, err)
		}
		if err != nil {
			return nil, err
		}
	}
	if sub.webhook != "" {
		if err := s.checkWebhook(ctx, sub.webhook); err != nil {
			return nil, err
		}
	}
	return sub, nil
}

// checkWebhook refuses a webhook_url the delivery would be refused, or a
// client without a key to sign it.
func (s *Server) checkWebhook(ctx context.Context, raw string) error {
	if err := webhook.CheckURL(raw); err != nil {
		return apierror.Invalid("webhook_url", err.Error())
	}
	u, _ := url.Parse(raw)
	port := map[string]int{"http": 80, "https": 443}[u.Scheme]
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	if err := s.Async.CheckAddress(ctx, u.Hostname(), port); err != nil {
		return apierror.Invalid("webhook_url", "must reach a public address on an allowed port")
	}
	if len(s.Async.WebhookKeys(principal(ctx).Client)) == 0 {
		return apierror.New(http.StatusNotImplemented, apierror.Unconfigured,
			"webhooks need a signing key, and this client has none (pixashot keys webhook <client>, or WEBHOOK_SIGNING_KEY)")
	}
	return nil
}

// parseQueued validates the options of a capture that runs from the queue.
func (s *Server) parseQueued(ctx context.Context, item []byte) (*options.Options, error) {
	o, err := options.ParseJSON(item, s.Limits)
	if err == nil && o.ResponseType != "by_format" && o.ResponseType != "url" {
		err = &options.FieldError{Field: "response_type", Reason: "is always url for an asynchronous capture"}
	}
	if err == nil && o.Proxy != "" && s.Async.CheckProxy != nil {
		err = s.Async.CheckProxy(ctx, o)
	}
	return o, err
}

// postCaptures queues one capture or a batch and answers 202 once every job
// is durable.
func (s *Server) postCaptures(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		apierror.Write(w, err)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		apierror.Write(w, apierror.Invalid("Idempotency-Key", "must be at most 255 printable ASCII characters"))
		return
	}
	client := principal(r.Context()).Client
	var held *claim
	if key != "" {
		// One request per key at a time in this instance; claimKey settles
		// it between instances.
		mu := &s.Async.idem[fnv32(client+"\x00"+key)%uint32(len(s.Async.idem))]
		mu.Lock()
		defer mu.Unlock()
		var replay []byte
		if held, replay, err = s.claimKey(r.Context(), client, key, body); err != nil {
			apierror.Write(w, answer(err))
			return
		}
		if replay != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, http.StatusAccepted, replay)
			return
		}
	}
	ctx := r.Context()
	if held != nil {
		// A submission never outlives its claim, so no other request can
		// take the key over while this one may still queue.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, claimTTL-15*time.Second)
		defer cancel()
	}
	sub, err := s.parseSubmission(ctx, body)
	if err == nil && len(sub.items) > 1 && s.Limiter != nil && s.Limiter.Enabled() {
		// A batch costs what its items would cost one by one; the
		// request itself paid for the first.
		s.Limiter.Charge(client, len(sub.items)-1)
	}
	var resp []byte
	if err == nil {
		resp, err = s.submit(ctx, client, baseURL(r), sub)
	}
	if err != nil {
		held.released(r.Context()) // nothing was queued: the key is free
		apierror.Write(w, answer(err))
		return
	}
	held.answered(r.Context(), resp)
	writeRaw(w, http.StatusAccepted, resp)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client may be gone
}

// submit writes the jobs' records, then queues them; the answer's ids are
// durable when it returns.
func (s *Server) submit(ctx context.Context, client, base string, sub *submission) ([]byte, error) {
	now := time.Now().UTC()
	batchID := ""
	if sub.batch {
		batchID = newID()
	}
	tasks := make([]jobs.Task, len(sub.items))
	ids := make([]string, len(sub.items))
	for i, item := range sub.items {
		j := &jobs.Job{ID: newID(), Client: client, Batch: batchID, Status: jobs.Queued, Created: now, Updated: now, Base: base}
		if sub.webhook != "" {
			j.Webhook = &jobs.Delivery{URL: sub.webhook, State: jobs.Pending}
		}
		if err := jobs.Put(ctx, s.Async.Records, j); err != nil {
			return nil, errStorage{err}
		}
		ids[i], tasks[i] = j.ID, jobs.Task{ID: j.ID, Client: client, Request: item, Trace: telemetry.TraceParent(ctx)}
	}
	if sub.batch {
		b, _ := json.Marshal(jobs.Batch{ID: batchID, Client: client, IDs: ids, Created: now})
		if err := s.Async.Records.PutRecord(ctx, client, "batches", batchID, b); err != nil {
			return nil, errStorage{err}
		}
	}
	entry := auditEntry(ctx)
	entry.CaptureID = ids[0]
	if err := s.Async.Queue.Enqueue(ctx, tasks); err != nil {
		s.forget(ctx, client, ids, batchID)
		if errors.Is(err, jobs.ErrTooLarge) {
			return nil, apierror.New(http.StatusRequestEntityTooLarge, apierror.PayloadTooLarge,
				"a capture request is larger than Cloud Tasks carries (1 MB); send html_content as a URL instead")
		}
		if errors.Is(err, jobs.ErrClientFull) {
			return nil, &apierror.Error{Status: http.StatusTooManyRequests, Type: apierror.RateLimit,
				Message:    "this client's queued captures fill its share of the queue (CLIENT_QUEUE_MAX); retry when some have run",
				RetryAfter: 30 * time.Second, Cause: err}
		}
		if errors.Is(err, jobs.ErrFull) {
			return nil, &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
				Message: "the capture queue is full (QUEUE_MAX); retry later", RetryAfter: 30 * time.Second, Cause: err}
		}
		return nil, &apierror.Error{Status: http.StatusServiceUnavailable, Type: apierror.Overloaded,
			Message: "the capture queue is unavailable; retry shortly", RetryAfter: 5 * time.Second, Cause: err}
	}
	if sub.batch {
		return json.Marshal(map[string]any{"batch_id": batchID, "ids": ids, "status": jobs.Queued})
	}
	return json.Marshal(map[string]string{"id": ids[0], "status": jobs.Queued})
}

// forget removes the records of jobs that were never queued; the client
// never learned their ids.
func (s *Server) forget(ctx context.Context, client string, ids []string, batchID string) {
	ctx = context.WithoutCancel(ctx)
	for _, id := range ids {
		s.Async.Records.DeleteRecord(ctx, client, "jobs", id) //nolint:errcheck // best effort: the lifecycle rule ends them anyway
	}
	if batchID != "" {
		s.Async.Records.DeleteRecord(ctx, client, "batches", batchID) //nolint:errcheck // as above
	}
}

// getJob answers GET /captures/{id} for an asynchronous capture; ok is false
// when id is not a job.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request, client, id string) bool {
	if s.Async == nil {
		return false
	}
	j, err := jobs.Get(r.Context(), s.Async.Records, client, id)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		s.writeStoreError(w, r, err)
		return true
	}
	writeJSON(w, http.StatusOK, jobs.ViewOf(r.Context(), j, s.Store.Get, baseURL(r)))
	return true
}

// getBatch lists a batch's jobs and how many are in each state.
func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	client, id := principal(r.Context()).Client, r.PathValue("id")
	b, err := s.Async.Records.GetRecord(r.Context(), client, "batches", id)
	if err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	var batch jobs.Batch
	if err := json.Unmarshal(b, &batch); err != nil {
		s.writeStoreError(w, r, err)
		return
	}
	counts := map[string]int{jobs.Queued: 0, jobs.Running: 0, jobs.Done: 0, jobs.Failed: 0}
	items := make([]jobs.View, 0, len(batch.IDs))
	for _, jid := range batch.IDs {
		j, err := jobs.Get(r.Context(), s.Async.Records, client, jid)
		if err != nil {
			s.writeStoreError(w, r, err)
			return
		}
		counts[j.Status]++
		items = append(items, jobs.ViewOf(r.Context(), j, s.Store.Get, baseURL(r)))
	}
	status := "done"
	if counts[jobs.Queued]+counts[jobs.Running] > 0 {
		status = "running"
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch_id": batch.ID, "status": status, "created_at": batch.Created,
		"counts": counts, "items": items})
}

// RunJob is the capture of an asynchronous job: the synchronous pipeline,
// under the job's id and client, stored as response_type url.
func (s *Server) RunJob(ctx context.Context, t jobs.Task) jobs.Result {
	o, err := options.ParseJSON(t.Request, s.Limits)
	if err != nil { // validated at submit; only a changed deployment gets here
		ae := answer(err)
		return jobs.Result{ErrorType: ae.Type, Message: ae.Message}
	}
	o.ResponseType = "url"
	o.CacheTTL = 0 // a cached capture has another id than the job's
	entry := &audit.Entry{Route: "ASYNC /captures", Client: t.Client, KeyVersion: "async", CaptureID: t.ID}
	if t.Monitor != "" {
		entry.Route = "MONITOR /monitors/" + t.Monitor
	}
	ctx = context.WithValue(context.WithValue(ctx, principalKey{}, auth.Principal{Client: t.Client, Version: "async"}), auditKey{}, entry)
	// A job waits its turn for a slot instead of being put back to spin,
	// and leaves the warm tab to callers who wait on their answer.
	ctx = capture.Cold(admission.Patient(ctx))
	start := time.Now()
	out := s.pipeline(ctx, o, t.ID)
	s.finish(ctx, o, out, start, 0, true)
	res := jobs.Result{Format: o.Format, Bytes: out.link.Size, Diff: out.diff}
	if out.err != nil {
		ae := answer(out.err)
		res.ErrorType, res.Message = ae.Type, ae.Message
		res.Busy = errors.Is(out.err, admission.ErrClientBusy) || errors.Is(out.err, admission.ErrOverloaded)
		var se errStorage
		res.Retry = errors.As(out.err, &se) || errors.Is(out.err, capture.ErrRendererCrashed) || ae.Status == http.StatusServiceUnavailable
	}
	entry.Status, entry.Bytes = http.StatusCreated, res.Bytes
	if res.ErrorType != "" {
		entry.Status, entry.Reason = answer(out.err).Status, res.ErrorType
	}
	entry.Outcome = outcome(entry.Status)
	s.Audit.Write(*entry)
	return res
}
