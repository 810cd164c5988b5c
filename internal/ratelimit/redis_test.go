package ratelimit

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit/redistest"
)

func TestSharedLimitAcrossInstances(t *testing.T) {
	url, stop := redistest.Start(t)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	rate := Rate{N: 3, Period: time.Minute}
	a, err := NewShared(url, rate, log)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewShared(url, rate, log)
	defer a.Close()
	defer b.Close()

	// Two instances share one bucket of 3 for the client.
	got := []bool{a.Allow("acme").Allowed, b.Allow("acme").Allowed, a.Allow("acme").Allowed, b.Allow("acme").Allowed}
	if got[0] != true || got[1] != true || got[2] != true || got[3] != false {
		t.Fatalf("allowed: %v, want 3 of 4 across both instances", got)
	}
	d := a.Allow("acme")
	if d.Allowed || d.Remaining != 0 || d.RetryAfter < 15*time.Second || d.RetryAfter > 20*time.Second {
		t.Fatalf("over the shared limit: %+v", d)
	}
	if !b.Allow("other").Allowed {
		t.Fatal("another client shares the bucket")
	}

	// Redis goes away: requests are limited per instance, not failed.
	stop()
	d = a.Allow("acme")
	if !d.Allowed || d.Limit != 3 {
		t.Fatalf("with Redis down: %+v", d)
	}
	if !strings.Contains(logs.String(), `"event":"ratelimit_degraded"`) {
		t.Fatalf("the fallback was not logged: %s", logs.String())
	}
}
