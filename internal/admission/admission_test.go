package admission

import (
	"context"
	"errors"
	"sync/atomic"
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

// A client alone may take every slot and every place in the queue: nothing
// the instance could do is refused. When another client comes to a full
// queue, it takes the place of the newest waiter of the client past its own
// places (8 * 2/4 here).
func TestOneClientTakesEverySlot(t *testing.T) {
	g := New(4, 8, 5*time.Second).WithClientShare(2, nil)
	var passes []*Pass
	for range 4 {
		p, err := g.Enter(context.Background(), "alone")
		if err != nil {
			t.Fatalf("a free slot was refused: %v", err)
		}
		passes = append(passes, p)
	}
	got := make(chan error, 9)
	enter := func(client string) {
		p, err := g.Enter(context.Background(), client)
		if err == nil {
			p.Leave()
		}
		got <- err
	}
	for i := range 8 {
		go enter("alone")
		waitFor(t, func() bool { return g.Waiting() == i+1 })
	}
	if _, err := g.Enter(context.Background(), "alone"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("past every place: %v", err)
	}
	go enter("other")
	if err := <-got; !errors.Is(err, ErrClientBusy) {
		t.Fatalf("the newest waiter of the client past its places: %v", err)
	}
	if g.Waiting() != 8 {
		t.Fatalf("waiting %d", g.Waiting())
	}
	for _, p := range passes {
		p.Leave()
	}
	for range 8 {
		if err := <-got; err != nil {
			t.Fatalf("a queued request: %v", err)
		}
	}
	waitFor(t, g.idle) // the last passes are given back after their answers
}

// When others wait, a freed slot goes to the client with the fewest running,
// and a client over its share may not queue more.
func TestShareWhenOthersWait(t *testing.T) {
	g := New(4, 8, 5*time.Second).WithClientShare(2, nil)
	var greedy []*Pass
	for range 4 {
		p, err := g.Enter(context.Background(), "greedy")
		if err != nil {
			t.Fatal(err)
		}
		greedy = append(greedy, p)
	}
	order := make(chan string, 2)
	enter := func(client string) {
		p, err := g.Enter(context.Background(), client)
		if err != nil {
			order <- client + ": " + err.Error()
			return
		}
		order <- client
		p.Leave()
	}
	go enter("greedy") // queued first, while nobody else waits
	waitFor(t, func() bool { return g.Waiting() == 1 })
	go enter("polite")
	waitFor(t, func() bool { return g.Waiting() == 2 })
	if _, err := g.Enter(context.Background(), "greedy"); !errors.Is(err, ErrClientBusy) {
		t.Fatalf("over its share while another client waits: %v", err)
	}
	greedy[0].Leave()
	if got := <-order; got != "polite" {
		t.Fatalf("the freed slot went to %q, not to the client with none running", got)
	}
	greedy[1].Leave()
	if got := <-order; got != "greedy" {
		t.Fatalf("then: %q", got)
	}
	greedy[2].Leave()
	greedy[3].Leave()
	waitFor(t, g.idle) // the last passes are given back after their answers
}

// A patient caller (an async worker) waits past the queue wait without
// taking a queue place, and yields to a client with fewer running.
func TestPatientWaitsItsTurn(t *testing.T) {
	g := New(1, 1, 50*time.Millisecond).WithClientShare(1, nil)
	batch, err := g.Enter(context.Background(), "batch")
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	go func() {
		p, err := g.Enter(Patient(context.Background()), "batch")
		if err != nil {
			order <- err.Error()
			return
		}
		order <- "batch"
		p.Leave()
	}()
	waitFor(t, func() bool { return g.Waiting() == 1 })
	time.Sleep(100 * time.Millisecond) // past the queue wait: still waiting
	go func() {
		p, err := g.Enter(context.Background(), "sync")
		if err != nil {
			order <- err.Error()
			return
		}
		order <- "sync"
		time.Sleep(20 * time.Millisecond)
		p.Leave()
	}()
	waitFor(t, func() bool { return g.Waiting() == 2 })
	batch.Leave()
	if a, b := <-order, <-order; a != "sync" || b != "batch" {
		t.Fatalf("order %q, %q; want sync then batch", a, b)
	}
	// A patient wait ends with its context.
	hold, _ := g.Enter(context.Background(), "x")
	ctx, cancel := context.WithTimeout(Patient(context.Background()), 30*time.Millisecond)
	defer cancel()
	if _, err := g.Enter(ctx, "batch"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("patient past its context: %v", err)
	}
	hold.Leave()
	waitFor(t, g.idle) // the last passes are given back after their answers
}

// While synchronous requests keep coming, a batch leaves them the last slot.
func TestPatientLeavesTheLastSlot(t *testing.T) {
	g := New(2, 4, 300*time.Millisecond)
	batch := Patient(context.Background())
	first, err := g.Enter(batch, "batch")
	if err != nil {
		t.Fatal(err)
	}
	// Nobody else came: the batch runs at full width.
	second, err := g.Enter(batch, "batch")
	if err != nil {
		t.Fatal(err)
	}
	second.Leave()
	// A synchronous request comes and goes; the next job waits, not it.
	s, err := g.Enter(context.Background(), "sync")
	if err != nil {
		t.Fatal(err)
	}
	s.Leave()
	held := make(chan *Pass, 1)
	go func() {
		p, err := g.Enter(batch, "batch")
		if err != nil {
			t.Error(err)
		}
		held <- p
	}()
	waitFor(t, func() bool { return g.Waiting() == 1 })
	start := time.Now()
	s, err = g.Enter(context.Background(), "sync")
	if err != nil || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("a synchronous request beside the batch: %v after %s", err, time.Since(start))
	}
	s.Leave()
	select {
	case <-held:
		t.Fatal("the batch took the last slot right after a synchronous request")
	case <-time.After(100 * time.Millisecond):
	}
	time.Sleep(300 * time.Millisecond) // no synchronous request for the queue wait
	first.Leave()
	p := <-held
	p.Leave()
	waitFor(t, g.idle) // the last passes are given back after their answers
}

// idle reports whether nothing is running, claimed or waiting.
func (g *Gate) idle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inUse == 0 && len(g.running) == 0 && len(g.waiters) == 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the gate never reached the expected state")
		}
		time.Sleep(time.Millisecond)
	}
}

type fleetFunc func() bool

func (f fleetFunc) Acquire(context.Context, string) (func(), bool) { return func() {}, f() }
func (f fleetFunc) Wait(context.Context, string) func()            { return func() {} }

func TestFleetShareRefuses(t *testing.T) {
	g := New(4, 8, time.Second).WithClientShare(4, fleetFunc(func() bool { return false }))
	if _, err := g.Enter(context.Background(), "acme"); !errors.Is(err, ErrClientBusy) {
		t.Fatalf("over the fleet share: %v", err)
	}
	if !g.idle() {
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
	waitFor(t, g.idle) // the last passes are given back after their answers
}

// Near the memory budget a new capture waits for a running one to end
// instead of starting beside it; with nothing running it starts.
func TestHoldWhilePressed(t *testing.T) {
	var pressed atomic.Bool
	g := New(4, 4, 5*time.Second).HoldWhile(pressed.Load)
	first, err := g.Enter(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	pressed.Store(true)
	got := make(chan error, 1)
	go func() {
		p, err := g.Enter(context.Background(), "b")
		if err == nil {
			p.Leave()
		}
		got <- err
	}()
	waitFor(t, func() bool { return g.Waiting() == 1 })
	select {
	case err := <-got:
		t.Fatalf("started beside a running capture under pressure: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	first.Leave() // the running one ends: the waiting one may start
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if p, err := g.Enter(context.Background(), "c"); err != nil {
		t.Fatalf("nothing running, under pressure: %v", err)
	} else {
		p.Leave()
	}
}
