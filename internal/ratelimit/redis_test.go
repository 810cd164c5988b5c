package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/logging/logtest"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit/redistest"
)

func TestSharedLimitAcrossInstances(t *testing.T) {
	url, stop := redistest.Start(t)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	rate := Rate{N: 3, Period: time.Minute}
	a, err := NewShared(RedisConfig{URL: url}, rate, log)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewShared(RedisConfig{URL: url}, rate, log)
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
	// A batch's items are charged on the shared bucket too.
	b.Charge("other", 10)
	if d := a.Allow("other"); d.Allowed || d.RetryAfter < 170*time.Second {
		t.Fatalf("after a charge of 10 on a bucket of 3 per minute: %+v", d)
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

// A hung Redis costs one request its read timeout; the next ones are limited
// locally at once, and the shared store is used again once it answers.
func TestSharedCircuitBreaker(t *testing.T) {
	srv := redistest.StartServer(t)
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	s, err := NewShared(RedisConfig{URL: srv.URL}, Rate{N: 1000, Period: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.probe = 50 * time.Millisecond
	defer s.Close()
	if !s.Allow("acme").Allowed || s.open.Load() {
		t.Fatal("a healthy Redis opened the circuit")
	}
	srv.Freeze()
	start := time.Now()
	s.Allow("acme")
	first := time.Since(start)
	if first < 200*time.Millisecond || !s.open.Load() {
		t.Fatalf("the first request with Redis frozen took %s (circuit open: %v)", first, s.open.Load())
	}
	start = time.Now()
	for range 20 {
		if !s.Allow("acme").Allowed {
			t.Fatal("the local fallback refused")
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("20 requests with the circuit open took %s: they still wait on Redis", d)
	}
	srv.Thaw()
	for deadline := time.Now().Add(5 * time.Second); s.open.Load(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the circuit did not close after Redis came back")
		}
	}
	for _, ev := range []string{"ratelimit_degraded", "ratelimit_restored"} {
		if !strings.Contains(logs.String(), `"event":"`+ev+`"`) {
			t.Errorf("no %s in the log: %s", ev, logs.String())
		}
	}
}

// Two instances share one client's fleet-wide share of running captures.
func TestFleetShareAcrossInstances(t *testing.T) {
	url, _ := redistest.Start(t)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	a, _ := NewShared(RedisConfig{URL: url}, Rate{N: 100, Period: time.Second}, log)
	b, _ := NewShared(RedisConfig{URL: url}, Rate{N: 100, Period: time.Second}, log)
	defer a.Close()
	defer b.Close()
	fa, fb := a.Fleet(2, time.Minute), b.Fleet(2, time.Minute)
	ctx := context.Background()
	r1, ok1 := fa.Acquire(ctx, "acme")
	_, ok2 := fb.Acquire(ctx, "acme")
	r3, ok3 := fa.Acquire(ctx, "acme")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("acquired %v %v %v: over the share is refused while nobody else waits", ok1, ok2, ok3)
	}
	r3()
	// Another client waits somewhere in the fleet: acme holds its share
	// and is refused more; its own waiting requests do not count.
	mine := fa.Wait(ctx, "acme")
	r4, ok := fb.Acquire(ctx, "acme")
	if !ok {
		t.Fatal("refused over the share for its own waiting request")
	}
	r4()
	mine()
	waiting := fb.Wait(ctx, "other")
	if _, ok := fa.Acquire(ctx, "acme"); ok {
		t.Fatal("acquired over the share while another client waits")
	}
	waiting()
	if _, ok := fb.Acquire(ctx, "other"); !ok {
		t.Fatal("another client shares the count")
	}
	waiting = fb.Wait(ctx, "other")
	r1()
	if _, ok := fb.Acquire(ctx, "acme"); !ok {
		t.Fatal("a released lease was not given back")
	}
	waiting()
	// A lease of an instance that died expires by itself.
	short := a.Fleet(1, 200*time.Millisecond)
	if _, ok := short.Acquire(ctx, "crashy"); !ok {
		t.Fatal("first lease")
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok := short.Acquire(ctx, "crashy"); !ok {
		t.Fatal("an expired lease still counts")
	}
}

// Memorystore as Terraform sets it up: TLS only, AUTH required, a
// certificate from the instance's own CA. The limit is shared only with the
// right password and CA; anything else falls back to the local limiter.
func TestSharedOverTLSWithAuth(t *testing.T) {
	password := randomPassword()
	srv, ca := redistest.StartTLS(t, password)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	rate := Rate{N: 1, Period: time.Hour}
	good, err := NewShared(RedisConfig{URL: srv.URL, Password: password, CACert: ca}, rate, log)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	other, _ := NewShared(RedisConfig{URL: srv.URL, Password: password, CACert: ca}, rate, log)
	defer other.Close()
	if !good.Allow("acme").Allowed || other.Allow("acme").Allowed || good.open.Load() {
		t.Fatal("two instances over TLS with AUTH do not share the bucket")
	}
	for name, rc := range map[string]RedisConfig{
		"wrong password": {URL: srv.URL, Password: "wrong", CACert: ca},
		"no CA":          {URL: srv.URL, Password: password},
	} {
		s, err := NewShared(rc, rate, log)
		if err != nil {
			t.Fatal(err)
		}
		s.Allow("acme")
		if !s.open.Load() {
			t.Errorf("%s: the shared store answered", name)
		}
		s.Close()
	}
	if _, err := NewShared(RedisConfig{URL: "redis://127.0.0.1:1/0", CACert: ca}, rate, log); err == nil {
		t.Error("a CA with a plaintext URL was accepted")
	}
}

func randomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
