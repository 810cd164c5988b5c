package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/agent"
	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// callerDoor runs an MCP tool's captures as the authenticated caller of
// its request: the same parser, gate, client share, egress guard, store and
// metrics as POST /capture.
type callerDoor struct {
	s       *Server
	ctx     context.Context // the HTTP request's: its principal and audit entry
	baseURL string
}

func (d callerDoor) Capture(_ context.Context, args json.RawMessage, format, responseType string) (*agent.Result, error) {
	m := map[string]any{}
	if len(args) > 0 && string(args) != "null" {
		if err := json.Unmarshal(args, &m); err != nil || m == nil {
			return nil, apierror.Invalid("arguments", "must be a JSON object of capture options")
		}
	}
	m["format"], m["response_type"] = format, responseType
	body, _ := json.Marshal(m)
	o, err := options.ParseJSON(body, d.s.Limits)
	if err != nil {
		return nil, answer(err)
	}
	start := time.Now()
	out := d.s.pipeline(d.ctx, o, newID())
	d.s.finish(d.ctx, o, out, start, 0, false) // the bytes are in hand: the tab and the slot go now
	if out.err != nil {
		return nil, answer(out.err)
	}
	auditEntry(d.ctx).CaptureID = out.id
	res := &agent.Result{Data: out.data, ContentType: o.ContentType(), ID: out.id}
	if responseType == "url" {
		res.URL, res.Expires = store.Absolute(out.link.URL, d.baseURL), out.link.Expires.UTC().Format(time.RFC3339)
	}
	return res, nil
}

func (d callerDoor) Submit(_ context.Context, args json.RawMessage) (json.RawMessage, error) {
	if d.s.Async == nil {
		return nil, apierror.New(http.StatusNotImplemented, apierror.Unconfigured, "asynchronous captures are not enabled")
	}
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	sub, err := d.s.parseSubmission(d.ctx, args)
	if err != nil {
		return nil, answer(err)
	}
	b, err := d.s.submit(d.ctx, principal(d.ctx).Client, d.baseURL, sub)
	if err != nil {
		return nil, answer(err)
	}
	return b, nil
}

func (d callerDoor) Job(_ context.Context, id string) (json.RawMessage, error) {
	if d.s.Async == nil {
		return nil, apierror.New(http.StatusNotImplemented, apierror.Unconfigured, "asynchronous captures are not enabled")
	}
	client := principal(d.ctx).Client
	j, err := jobs.Get(d.ctx, d.s.Async.Records, client, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, apierror.New(http.StatusNotFound, apierror.NotFound, "no such capture")
	case err != nil:
		return nil, answer(errStorage{err})
	}
	return json.Marshal(jobs.ViewOf(d.ctx, j, d.s.Store.Get, d.baseURL))
}
