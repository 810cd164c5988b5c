package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/scheduler"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// clients authenticates each token as the client it maps to.
type clients map[string]string

func (c clients) Authenticate(token string) (auth.Principal, error) {
	if id, ok := c[token]; ok {
		return auth.Principal{Client: id, Version: "test"}, nil
	}
	return auth.Principal{}, auth.ErrInvalid
}

// POST, GET and DELETE /monitors without a browser: what is refused and
// why, MONITORS_MAX, owners only, and the embedded clock's files.
func TestMonitorRoutes(t *testing.T) {
	disk, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(disk, store.Config{URLTTL: time.Minute, Retention: 7 * 24 * time.Hour})
	dir := filepath.Join(t.TempDir(), ".monitors")
	q := &testQueue{}
	e := newRouteEnv(t, func(s *Server) {
		s.Auth = clients{"tok-" + t.Name(): "acme", "tok-other": "other"}
		s.Store = st
		s.Async = &Async{Queue: q, Records: st, BatchMax: 10,
			CheckAddress: func(_ context.Context, host string, _ int) error {
				if host == "10.0.0.1" {
					return io.EOF // any refusal
				}
				return nil
			},
			WebhookKeys: func(c string) [][]byte {
				if c == "acme" {
					return [][]byte{[]byte("k")}
				}
				return nil
			}}
		clock, err := scheduler.OpenEmbedded(dir, s.QueueRun, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		s.Monitors = &Monitors{Schedules: clock, Max: 2, MaxGap: 7*24*time.Hour - time.Hour}
	})
	post := func(token, body string) reply { return send(t, "POST", e.ts.URL+"/monitors", token, body) }
	const page = `"options":{"url":"https://example.com"}`
	for _, c := range []struct{ body, field string }{
		{`[]`, "body"},
		{`{"schedule":"0 * * * *"}`, "options"},
		{`{"options":"https://example.com","schedule":"0 * * * *"}`, "options"},
		{`{` + page + `}`, "schedule"},
		{`{` + page + `,"schedule":"* * * * *"}`, "schedule"},
		{`{` + page + `,"schedule":"0 0 1 * *"}`, "schedule"},
		{`{` + page + `,"schedule":"0 * * * *","time_zone":"Nowhere/Else"}`, "time_zone"},
		{`{` + page + `,"schedule":"0 * * * *","time_zone":"../../etc/passwd"}`, "time_zone"},
		{`{` + page + `,"schedule":"0 * * * *","threshold":2}`, "threshold"},
		{`{` + page + `,"schedule":"0 * * * *","threshold":"high"}`, "threshold"},
		{`{` + page + `,"schedule":"0 * * * *","every":"hour"}`, "every"},
		{`{` + page + `,"schedule":"0 * * * *","webhook_url":"http://10.0.0.1/hook"}`, "webhook_url"},
		{`{"options":{"url":"ftp://example.com"},"schedule":"0 * * * *"}`, "options.url"},
		{`{"options":{"url":"https://example.com","format":"pdf"},"schedule":"0 * * * *"}`, "options.format"},
		{`{"options":{"url":"https://example.com","cookies":[{"name":"session","value":"s3cret"}]},"schedule":"0 * * * *"}`, "options.cookies"},
		{`{"options":{"url":"https://example.com","custom_headers":{"Authorization":"Bearer s3cret"}},"schedule":"0 * * * *"}`, "options.custom_headers"},
		{`{"options":{"url":"https://example.com","proxy":"http://u:s3cret@proxy.example.com:3128"},"schedule":"0 * * * *"}`, "options.proxy"},
		{`{"options":{"url":"https://example.com","compare_to":"0123456789abcdef01234567"},"schedule":"0 * * * *"}`, "options.compare_to"},
		{`{"options":{"url":"https://example.com","response_type":"json"},"schedule":"0 * * * *"}`, "options.response_type"},
	} {
		r := post("tok-"+t.Name(), c.body)
		if r.status != 400 || r.body["field"] != c.field {
			t.Errorf("%s: %d %v, want a 400 naming %s", c.body, r.status, r.body, c.field)
		}
		if msg, _ := r.body["message"].(string); strings.Contains(msg, "s3cret") {
			t.Errorf("%s: the answer repeats a credential: %s", c.body, msg)
		}
	}
	// A client without a webhook key cannot ask for webhooks.
	if r := post("tok-other", `{`+page+`,"schedule":"0 * * * *","webhook_url":"https://example.com/hook"}`); r.status != 501 {
		t.Errorf("webhooks without a key: %d %v", r.status, r.body)
	}

	var ids []string
	for i := range 2 {
		r := post("tok-"+t.Name(), `{`+page+`,"schedule":"*/`+[]string{"5", "30"}[i]+` * * * *","webhook_url":"https://example.com/hook"}`)
		id, _ := r.body["id"].(string)
		if r.status != 201 || id == "" || r.body["threshold"] != 0.01 {
			t.Fatalf("POST /monitors: %d %v", r.status, r.body)
		}
		if _, err := os.Stat(filepath.Join(dir, id+".json")); err != nil {
			t.Errorf("the embedded clock's file: %v", err)
		}
		ids = append(ids, id)
	}
	if r := post("tok-"+t.Name(), `{`+page+`,"schedule":"0 * * * *"}`); r.status != 409 || !strings.Contains(r.body["message"].(string), "MONITORS_MAX") {
		t.Errorf("past MONITORS_MAX: %d %v", r.status, r.body)
	}
	if r := post("tok-other", `{`+page+`,"schedule":"0 * * * *"}`); r.status != 201 {
		t.Errorf("another client's first: %d %v", r.status, r.body)
	}
	list := send(t, "GET", e.ts.URL+"/monitors", "tok-"+t.Name(), "")
	if ms, _ := list.body["monitors"].([]any); list.status != 200 || len(ms) != 2 || ms[0].(map[string]any)["id"] != ids[0] {
		t.Errorf("GET /monitors: %d %v", list.status, list.body)
	}
	// Owners only: another client's id is not found, to read or delete.
	for _, m := range []string{"GET", "DELETE"} {
		if r := send(t, m, e.ts.URL+"/monitors/"+ids[0], "tok-other", ""); r.status != 404 {
			t.Errorf("%s of another client's monitor: %d", m, r.status)
		}
	}
	if r := send(t, "GET", e.ts.URL+"/monitors/"+ids[0], "tok-"+t.Name(), ""); r.status != 200 || r.body["schedule"] != "*/5 * * * *" {
		t.Errorf("GET /monitors/{id}: %d %v", r.status, r.body)
	}
	if r := send(t, "DELETE", e.ts.URL+"/monitors/"+ids[0], "tok-"+t.Name(), ""); r.status != 204 {
		t.Errorf("DELETE: %d %v", r.status, r.body)
	}
	if _, err := os.Stat(filepath.Join(dir, ids[0]+".json")); !os.IsNotExist(err) {
		t.Errorf("a deleted monitor's schedule: %v", err)
	}
	if r := send(t, "GET", e.ts.URL+"/monitors/"+ids[0], "tok-"+t.Name(), ""); r.status != 404 {
		t.Errorf("GET after DELETE: %d", r.status)
	}
	if r := post("tok-"+t.Name(), `{`+page+`,"schedule":"0 * * * *"}`); r.status != 201 {
		t.Errorf("a place freed by DELETE: %d %v", r.status, r.body)
	}
	// Without Cloud Scheduler there is no internal route to call.
	if r := send(t, "POST", e.ts.URL+MonitorPath, "", `{"client":"acme","id":"`+ids[1]+`"}`); r.status != 404 {
		t.Errorf("the scheduler's route on the embedded clock: %d", r.status)
	}
}
