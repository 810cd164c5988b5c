package admission

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateQueuesBrieflyThenRefuses(t *testing.T) {
	g := New(1, 1, 200*time.Millisecond)
	leave, err := g.Enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// One may wait; it gets the slot when it frees.
	got := make(chan error, 1)
	go func() {
		l, err := g.Enter(context.Background())
		if err == nil {
			l()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if g.Waiting() != 1 {
		t.Fatalf("waiting %d", g.Waiting())
	}
	// The queue is full: refused at once.
	start := time.Now()
	if _, err := g.Enter(context.Background()); !errors.Is(err, ErrOverloaded) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("full queue: %v after %s", err, time.Since(start))
	}
	leave()
	if err := <-got; err != nil {
		t.Fatalf("the queued request: %v", err)
	}
	// A wait longer than the queue wait is refused.
	leave, _ = g.Enter(context.Background())
	defer leave()
	start = time.Now()
	if _, err := g.Enter(context.Background()); !errors.Is(err, ErrOverloaded) || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("timed-out wait: %v after %s", err, time.Since(start))
	}
}
