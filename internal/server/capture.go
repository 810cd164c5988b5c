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
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// The seams of the capture route: what the server needs of the engine, the
// store and the gate, so that every branch can be tested without Chrome.
type (
	// Capturer renders one request; release disposes of its tab and must
	// be called (after the response).
	Capturer interface {
		Capture(ctx context.Context, id string, o *options.Options) (res *capture.Result, release func(), err error)
	}
	// Storage keeps stored captures and the cache.
	Storage interface {
		Save(ctx context.Context, o store.Object, fingerprint string, data []byte) (store.Link, error)
		Cached(ctx context.Context, client, fingerprint string, maxAge time.Duration) (store.Object, bool, error)
		Data(ctx context.Context, o store.Object) ([]byte, error)
		Link(ctx context.Context, o store.Object) (store.Link, error)
		Get(ctx context.Context, client, id string) (store.Link, error)
		Load(ctx context.Context, client, id string) ([]byte, error)
		Delete(ctx context.Context, client, id string) error
	}
	// Admitter hands out capture slots.
	Admitter interface {
		Enter(ctx context.Context, client string) (*admission.Pass, error)
		InUse() int
		Waiting() int
	}
)

func (s *Server) postCapture(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		apierror.Write(w, err)
		return
	}
	o, err := options.ParseJSON(body, s.Limits)
	s.serveCapture(w, r, o, err)
}

// readBody reads a request body of at most MAX_BODY_BYTES.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, apierror.New(http.StatusRequestEntityTooLarge, apierror.PayloadTooLarge,
			"the request body is larger than "+strconv.FormatInt(s.MaxBodyBytes, 10)+" bytes")
	case err != nil:
		return nil, apierror.Invalid("body", "could not be read")
	}
	return body, nil
}

func (s *Server) getCapture(w http.ResponseWriter, r *http.Request) {
	o, err := options.ParseQuery(r.URL.Query(), s.Limits)
	s.serveCapture(w, r, o, err)
}

// captureOutcome is how a capture request ended; respond writes it.
type captureOutcome struct {
	id       string // the capture's id, once there is one
	cache    string // "hit" or "miss" when the request asked for the cache
	data     []byte // the capture, for every response_type but url
	meta     *capture.Metadata
	target   int        // the main document's HTTP status, when captured live
	finalURL string     // where the target redirected to, if it did
	link     store.Link // for response_type url
	diff     *imagediff.Result
	err      error
	queued   time.Duration // waiting for a slot
	answered func()        // after the response: the client's share comes back
	done     func()        // disposal after the response: the tab, then the slot
}

// serveCapture runs the pipeline, answers, and only then disposes of the tab
// and gives back the slot: disposal never stacks up beyond MAX_CONCURRENCY,
// and is off the client's critical path.
func (s *Server) serveCapture(w http.ResponseWriter, r *http.Request, o *options.Options, err error) {
	start := time.Now()
	out := captureOutcome{err: err}
	if err == nil {
		out = s.pipeline(r.Context(), o, newID())
	}
	answering := time.Now()
	_, span := s.tracer().Start(r.Context(), "encode")
	s.respond(w, r, o, out)
	span.End()
	s.finish(r.Context(), o, out, start, time.Since(answering), false)
}

// finish ends a capture once its answer is out: measured, the client's
// share given back, then the tab and the slot disposed of, off the
// caller's path unless wait (a job's worker waits, so it never runs ahead
// of the slots it frees).
func (s *Server) finish(ctx context.Context, o *options.Options, out captureOutcome, start time.Time, encode time.Duration, wait bool) {
	s.measure(ctx, o, out, start, encode)
	if out.answered != nil {
		out.answered()
	}
	switch {
	case out.done == nil:
	case wait:
		out.done()
	default:
		go out.done()
	}
}

// pipeline is a capture request from top to bottom: cache, admission,
// capture, storage. id names the capture (a cache hit keeps its own).
func (s *Server) pipeline(ctx context.Context, o *options.Options, id string) captureOutcome {
	client := principal(ctx).Client
	var out captureOutcome
	var fingerprint string
	if o.CacheTTL > 0 {
		fingerprint = store.Fingerprint(client, o.Normalized())
		if hit, ok := s.fromCache(ctx, client, fingerprint, o); ok {
			return hit
		}
		out.cache = "miss"
	}

	entered := time.Now()
	actx, span := s.tracer().Start(ctx, "admission")
	pass, err := s.Gate.Enter(actx, client)
	span.End()
	out.queued = time.Since(entered)
	s.Metrics.Phase(ctx, "queue", out.queued)
	if err != nil {
		s.refused(ctx, err)
		out.err = err
		return out
	}
	out.answered = pass.Answered
	release := func() {}
	defer func() {
		// A panic on the way (answered as a 500 by the guard) must not
		// keep the slot or the tab.
		if p := recover(); p != nil {
			release()
			pass.Leave()
			panic(p)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	out.id = id
	entry := auditEntry(ctx)
	entry.CaptureID, entry.Target = out.id, targetHost(o)
	start := time.Now()
	cctx, span = s.tracer().Start(cctx, "capture", trace.WithAttributes(attribute.String("pixashot.capture_id", out.id),
		attribute.String("pixashot.format", o.Format)))
	res, release, err := s.Engine.Capture(capture.ForClient(cctx, client), out.id, o)
	if res != nil {
		s.phases(cctx, res.Phases.Steps)
	}
	if err != nil {
		span.SetStatus(codes.Error, answer(err).Type)
	}
	span.End()
	out.done = func() {
		release()
		pass.Leave()
	}
	log := s.Logger.With("capture", out.id, "client", client, "format", o.Format)
	if err != nil {
		out.err = err
		event := "capture_failed"
		if errors.Is(err, capture.ErrRendererCrashed) {
			event = "renderer_crashed"
		}
		ae := answer(err)
		log.WarnContext(ctx, "capture failed", "event", event, "status", ae.Status, "error_type", ae.Type, "cause", errString(ae.Cause),
			"ms", time.Since(start).Milliseconds())
		return out
	}
	log.InfoContext(ctx, "capture done", "bytes", len(res.Data), "ms", time.Since(start).Milliseconds(),
		"egress_bytes", res.Egress.Bytes, "egress_conns", res.Egress.Conns, "egress_blocked", res.Egress.Blocked,
		"phase_ms", res.Phases)
	out.data, out.meta, out.target, out.finalURL = res.Data, res.Metadata, res.TargetStatus, res.FinalURL
	if o.Diff != nil {
		dctx, span := s.tracer().Start(cctx, "diff")
		out.diff, err = s.compare(dctx, client, o, res.Data)
		span.End()
		if err != nil {
			out.err = err
			return out
		}
	}
	if o.ResponseType != "url" && fingerprint == "" {
		return out
	}
	stored := time.Now()
	sctx, span := s.tracer().Start(cctx, "store")
	out.link, err = s.Store.Save(sctx, store.Object{ID: out.id, Client: client, Format: o.Format,
		ContentType: o.ContentType()}, fingerprint, res.Data)
	span.End()
	s.Metrics.Phase(ctx, "store", time.Since(stored))
	switch {
	case err != nil && o.ResponseType == "url":
		// The client asked for a link and gets none: it is told, never a
		// dangling id (the store removed the object).
		log.ErrorContext(ctx, "storing the capture failed", "event", "storage_error", "error", err)
		out.err = errStorage{err}
	case err != nil:
		// The client has its bytes; only the cache entry is lost.
		log.WarnContext(ctx, "caching the capture failed", "event", "storage_error", "error", err)
	}
	return out
}

// fromCache answers from a capture the same client made of the same
// request, without the browser. A failing store is a miss: nothing is lost.
func (s *Server) fromCache(ctx context.Context, client, fingerprint string, o *options.Options) (captureOutcome, bool) {
	obj, ok, err := s.Store.Cached(ctx, client, fingerprint, o.CacheTTL)
	if err != nil {
		s.Logger.WarnContext(ctx, "capture cache lookup failed; capturing", "event", "storage_error", "error", err)
	}
	if !ok {
		return captureOutcome{}, false
	}
	out := captureOutcome{id: obj.ID, cache: "hit"}
	if o.ResponseType == "url" {
		out.link, err = s.Store.Link(ctx, obj)
	} else {
		out.data, err = s.Store.Data(ctx, obj)
	}
	if err != nil {
		s.Logger.WarnContext(ctx, "capture cache read failed; capturing", "event", "storage_error", "error", err)
		return captureOutcome{}, false
	}
	auditEntry(ctx).CaptureID = obj.ID
	return out, true
}

// cacheHeader says whether an answer came from the capture cache;
// ignoredHeader names the original's options that had no effect.
const (
	cacheHeader   = "X-Cache"
	ignoredHeader = "X-Pixashot-Ignored-Options"
)

// maxFinalURL bounds X-Target-Final-Url; a longer URL is left out.
const maxFinalURL = 4096

// respond writes an captureOutcome: the one writer of the capture route.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, o *options.Options, out captureOutcome) {
	if o != nil && len(o.Ignored) > 0 {
		w.Header().Set(ignoredHeader, strings.Join(o.Ignored, ", "))
	}
	if out.cache != "" {
		w.Header().Set(cacheHeader, out.cache)
	}
	if out.id != "" {
		w.Header().Set("X-Capture-Id", out.id)
		// How long the request waited for a capture slot (fairness
		// between clients shows here first).
		w.Header().Set("Server-Timing", "queue;dur="+strconv.FormatFloat(out.queued.Seconds()*1000, 'f', 1, 64))
	}
	if out.target != 0 {
		w.Header().Set("X-Target-Status", strconv.Itoa(out.target))
	}
	// The page's URL is the target's word: sent only as a well-formed,
	// bounded header value.
	if u := out.finalURL; u != "" && len(u) <= maxFinalURL && !strings.ContainsFunc(u, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		w.Header().Set("X-Target-Final-Url", u)
	}
	if d := out.diff; d != nil {
		d.URL = store.Absolute(d.URL, baseURL(r))
		w.Header().Set("X-Diff-Ratio", strconv.FormatFloat(d.MismatchRatio, 'f', -1, 64))
		w.Header().Set("X-Diff-Pixels", strconv.Itoa(d.MismatchPixels))
		w.Header().Set("X-Diff-Url", d.URL)
	}
	switch {
	case out.err != nil:
		apierror.Write(w, answer(out.err))
	case o.ResponseType == "url":
		writeLink(w, r, http.StatusCreated, out.link, out.diff)
	default:
		writeCapture(w, o, out.data, out.meta, out.diff)
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

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// writeCapture answers in the client's response_type; metadata, when the
// capture read it, goes with a json answer.
func writeCapture(w http.ResponseWriter, o *options.Options, data []byte, md *capture.Metadata, diff *imagediff.Result) {
	switch o.ResponseType {
	case "empty":
		w.WriteHeader(http.StatusNoContent)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"file": base64.StdEncoding.EncodeToString(data), "format": o.Format}
		if diff != nil {
			body["diff"] = diff
		}
		if md != nil {
			body["metadata"] = md
		}
		json.NewEncoder(w).Encode(body) //nolint:errcheck // the client may be gone
	default:
		w.Header().Set("Content-Type", o.ContentType())
		if o.Format != "metadata" && o.Format != "links" && o.Format != "json_ld" { // a link preview is an answer, not a download
			w.Header().Set("Content-Disposition", "attachment; filename=screenshot."+o.Extension())
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data) //nolint:errcheck // the client may be gone
	}
}
