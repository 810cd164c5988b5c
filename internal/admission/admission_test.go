package admission

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateQueuesBrieflyThenRefuses(t *testing.T) {
	g := New(1, 1, 200*time.Millisecond)
	leave, err := g.Enter(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	// One may wait; it gets the slot when it frees.
	got := make(chan error, 1)
	go func() {
		l, err := g.Enter(context.Background(), "acme")
		if err == nil {
			l.Leave()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if g.Waiting() != 1 {
		t.Fatalf("waiting %d", g.Waiting())
	}
	// The queue is full: refused at once.
	start := time.Now()
	if _, err := g.Enter(context.Background(), "acme"); !errors.Is(err, ErrOverloaded) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("full queue: %v after %s", err, time.Since(start))
	}
	leave.Leave()
	if err := <-got; err != nil {
		t.Fatalf("the queued request: %v", err)
	}
	// A wait longer than the queue wait is refused.
	leave, _ = g.Enter(context.Background(), "acme")
	defer leave.Leave()
	start = time.Now()
	if _, err := g.Enter(context.Background(), "acme"); !errors.Is(err, ErrOverloaded) || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("timed-out wait: %v after %s", err, time.Since(start))
	}
}

// One client's slow captures hold at most its share: another client still
// gets a slot at once.
func TestClientShare(t *testing.T) {
	g := New(4, 8, time.Second).WithClientShare(2, nil)
	var leaves []*Pass
	for range 2 {
		l, err := g.Enter(context.Background(), "greedy")
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
	}
	start := time.Now()
	if _, err := g.Enter(context.Background(), "greedy"); !errors.Is(err, ErrClientBusy) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("a third capture of the same client: %v after %s", err, time.Since(start))
	}
	other, err := g.Enter(context.Background(), "other")
	if err != nil {
		t.Fatalf("another client was starved: %v", err)
	}
	other.Leave()
	leaves[0].Leave()
	leaves[0].Leave() // twice is once
	l, err := g.Enter(context.Background(), "greedy")
	if err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	l.Leave()
	leaves[1].Leave()
	if g.InUse() != 0 || len(g.running) != 0 {
		t.Fatalf("left in use: %d %v", g.InUse(), g.running)
	}
}

type fleetFunc func() bool

func (f fleetFunc) Acquire(context.Context, string) (func(), bool) { return func() {}, f() }

func TestFleetShareRefuses(t *testing.T) {
	g := New(4, 8, time.Second).WithClientShare(4, fleetFunc(func() bool { return false }))
	if _, err := g.Enter(context.Background(), "acme"); !errors.Is(err, ErrClientBusy) {
		t.Fatalf("over the fleet share: %v", err)
	}
	if g.InUse() != 0 || len(g.running) != 0 {
		t.Fatal("a refused request kept its claim")
	}
}

// A client's share is given back when its answer is written, before its tab
// is disposed of: a client that sends its next request at once is not
// refused for a capture it already has.
func TestShareIsBackAtTheAnswer(t *testing.T) {
	g := New(2, 2, time.Second).WithClientShare(1, nil)
	p, err := g.Enter(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	p.Answered()
	p2, err := g.Enter(context.Background(), "acme")
	if err != nil {
		t.Fatalf("the next request after the answer: %v", err)
	}
	p.Leave()
	p2.Leave()
	if g.InUse() != 0 || len(g.running) != 0 {
		t.Fatalf("left in use: %d %v", g.InUse(), g.running)
	}
}
