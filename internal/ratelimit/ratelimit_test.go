package ratelimit

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]Rate{"5 per second": {5, time.Second}, "10/m": {10, time.Minute}, "1000 per hour": {1000, time.Hour}, "3/s": {3, time.Second}, "0": {}} {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("%q: %v %v", s, got, err)
		}
	}
	for _, s := range []string{"5", "five per second", "5 per day", "5/x", "-1/s"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(Rate{N: 3, Period: 3 * time.Second})
	l.now = func() time.Time { return now }
	for i := range 3 {
		d := l.Allow("a")
		if !d.Allowed || d.Remaining != 2-i || d.Limit != 3 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.Allow("a")
	if d.Allowed || d.RetryAfter != time.Second || d.Remaining != 0 || !d.Reset.Equal(now.Add(3*time.Second)) {
		t.Fatalf("over the limit: %+v", d)
	}
	if !l.Allow("b").Allowed {
		t.Fatal("another client shares the bucket")
	}
	now = now.Add(time.Second)
	if !l.Allow("a").Allowed || l.Allow("a").Allowed {
		t.Fatal("one second refills exactly one token")
	}
}

// A batch of n items costs n tokens: the requests after it wait until the
// bucket has paid them back.
func TestChargeGoesIntoDebt(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(Rate{N: 5, Period: 5 * time.Second})
	l.now = func() time.Time { return now }
	if !l.Allow("a").Allowed {
		t.Fatal("first request")
	}
	l.Charge("a", 99) // the rest of a batch of 100
	d := l.Allow("a")
	if d.Allowed || d.RetryAfter != 96*time.Second || d.Remaining != 0 {
		t.Fatalf("after a batch of 100 at 1/s: %+v", d)
	}
	now = now.Add(96 * time.Second)
	if !l.Allow("a").Allowed {
		t.Fatal("the debt was paid back but the request is refused")
	}
}
