package function

import (
	"context"
	"testing"
	"time"
)

// A failed start is tried again after the backoff, not cached for the life
// of the instance.
func TestFailedStartIsRetried(t *testing.T) {
	t.Setenv("AUTH_TOKEN", "")
	t.Setenv("AUTH_SECRET_PROJECT", "")
	t.Setenv("CHROME_PATH", "/nonexistent/chrome")
	if _, err := Start(context.Background()); err == nil {
		t.Fatal("started with no browser")
	}
	first := lastTry
	if _, err := Start(context.Background()); err == nil || lastTry != first {
		t.Fatal("a second call within the backoff tried again")
	}
	mu.Lock()
	lastTry = time.Now().Add(-time.Minute) // the backoff has passed
	mu.Unlock()
	t.Setenv("CHROME_PATH", "")
	t.Setenv("MAX_CONCURRENCY", "0") // still failing, but from a fresh configuration
	if _, err := Start(context.Background()); err == nil || !lastTry.After(first) {
		t.Fatalf("not tried again after the backoff: %v", err)
	}
	if nextDelay != 2*time.Second {
		t.Errorf("backoff %s after two failures, want 2s", nextDelay)
	}
}
