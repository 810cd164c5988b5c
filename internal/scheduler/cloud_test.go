package scheduler_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/scheduler"
	"github.com/pixashot/pixashot-cloudrun/internal/scheduler/fakescheduler"
)

// The real client against the stand-in: one job per monitor, named with
// the prefix, calling the route with the invoker's token.
func TestCloud(t *testing.T) {
	var got *http.Request
	var body scheduler.Call
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		json.NewDecoder(r.Body).Decode(&body) //nolint:errcheck // checked below
	}))
	defer svc.Close()
	fake, err := fakescheduler.Start(func(aud, email string) (string, error) { return aud + "|" + email, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	fake.Target = svc.URL
	ctx := context.Background()
	client, err := scheduler.NewClient(ctx, fake.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c := &scheduler.Cloud{Client: client, Parent: "projects/test-project/locations/local", Prefix: "pixashot-monitor-",
		URL: "https://pixashot.test/internal/tasks/monitor", Audience: "https://pixashot.test", Invoker: "tasks@test-project.iam.gserviceaccount.com"}
	const id = "0123456789abcdef01234567"
	if err := c.Put(ctx, "acme", id, "*/30 * * * *", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "acme", id, "0 * * * *", "Europe/Paris"); err != nil { // again: replaced
		t.Fatal(err)
	}
	name := "projects/test-project/locations/local/jobs/pixashot-monitor-" + id
	j := fake.Jobs()[name]
	if j == nil || j.GetSchedule() != "0 * * * *" || j.GetTimeZone() != "Europe/Paris" || len(fake.Jobs()) != 1 {
		t.Fatalf("jobs: %v", fake.Jobs())
	}
	slot := time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC)
	if code, err := fake.Fire(ctx, name, slot); err != nil || code != 200 {
		t.Fatalf("fire: %d %v", code, err)
	}
	if got.URL.Path != "/internal/tasks/monitor" || got.Header.Get("Authorization") != "Bearer https://pixashot.test|tasks@test-project.iam.gserviceaccount.com" ||
		got.Header.Get("X-CloudScheduler-ScheduleTime") != "2026-12-06T11:00:00Z" || body != (scheduler.Call{Client: "acme", ID: id}) {
		t.Errorf("the call: %s %v %+v", got.URL, got.Header, body)
	}
	for range 2 { // deleting what is gone is no error
		if err := c.Delete(ctx, "acme", id); err != nil {
			t.Fatal(err)
		}
	}
	if len(fake.Jobs()) != 0 {
		t.Errorf("jobs left: %v", fake.Jobs())
	}
	if err := c.Put(ctx, "acme", id, "* * * * * *", ""); err == nil {
		t.Error("a six-field schedule was sent")
	}
}
