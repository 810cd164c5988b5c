// Package admission caps the captures running at once on an instance and
// shares the slots between clients without ever leaving one idle: a client
// may take every free slot while nobody else waits, and when others wait,
// each freed slot goes to the waiting client with the fewest captures
// running. A few requests may queue for a short while; past that, the answer
// is "overloaded" straight away, so a burst turns into fast 503s instead of
// piled-up timeouts.
package admission

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrOverloaded means no slot was free within the wait, or the queue was full.
var ErrOverloaded = errors.New("overloaded")

// ErrClientBusy means the client holds its share while other clients wait,
// or its own places in the queue are taken: its slow captures never starve
// another client.
var ErrClientBusy = errors.New("the client's share of the capture slots is in use")

// Fleet counts a client's captures across every instance (Redis). Acquire
// takes a lease: within the fleet-wide share always, over it only while no
// other client waits anywhere. Wait says, until done is called, that client
// has a request waiting for a slot. An implementation that cannot reach its
// store admits: the per-instance rule still holds.
type Fleet interface {
	Acquire(ctx context.Context, client string) (release func(), ok bool)
	Wait(ctx context.Context, client string) (done func())
}

// Gate admits at most slots captures at once.
type Gate struct {
	slots, queue int
	wait         time.Duration
	perClient    int // a client's share: 0, none
	clientQueue  int // a client's places in the queue
	fleet        Fleet
	hold         func() bool // while true, no capture starts beside a running one

	mu       sync.Mutex
	inUse    int
	running  map[string]int // admitted and not yet answered, by client
	waiters  []*waiter      // in order of arrival
	lastSync time.Time      // when a request with a caller waiting last came in
}

type waiter struct {
	client  string
	patient bool
	done    chan struct{} // closed when the wait is over: err nil, the slot is this waiter's
	err     error
}

// New returns a gate with slots running places, queue waiting places, and the
// longest time a request waits for a place. Without WithClientShare, one
// client may hold every place.
func New(slots, queue int, wait time.Duration) *Gate {
	return &Gate{slots: slots, queue: queue, clientQueue: queue, wait: wait, running: map[string]int{}}
}

// WithClientShare sets each client's share: perClient slots it may hold
// while other clients wait (0: no share), and as many places in the queue
// as that share is of the slots, which it may pass while nobody else needs
// them. fleet (if not nil) applies the rule across instances.
func (g *Gate) WithClientShare(perClient int, fleet Fleet) *Gate {
	g.perClient, g.fleet = perClient, fleet
	g.clientQueue = g.queue
	if perClient > 0 && perClient < g.slots {
		g.clientQueue = max(1, g.queue*perClient/g.slots)
	}
	return g
}

// HoldWhile makes new captures wait while pressed says so (the instance is
// near its memory budget) and another capture is running: one ending, or
// its renderer being ended, lets the next in.
func (g *Gate) HoldWhile(pressed func() bool) *Gate {
	g.hold = pressed
	return g
}

type patientKey struct{}

// Patient marks ctx as a caller that waits for a slot as long as ctx lives,
// outside the queue's places and wait (an async job's worker: the workers
// are few, and a job has no one waiting on its answer). It takes its turn
// by the same rule as everyone, but leaves the last slot free while
// synchronous requests keep coming (within the queue wait of the last), so
// a batch never makes them wait for one of its captures to end; on an
// instance nobody else uses it runs at full width.
func Patient(ctx context.Context) context.Context { return context.WithValue(ctx, patientKey{}, true) }

// Pass is an admitted capture: Answered gives back the client's share as
// soon as its answer is written, Leave the slot once its tab is disposed of
// (and the share too, if not yet). Both are safe to call more than once.
type Pass struct {
	answered, left sync.Once
	unclaim, leave func()
}

// NewPass is a pass whose share and slot are given back by answered and
// leave (another admitter than Gate, or a test's).
func NewPass(answered, leave func()) *Pass { return &Pass{unclaim: answered, leave: leave} }

// Answered ends the capture for its client: the client may start another
// while this one's tab is still being disposed of.
func (p *Pass) Answered() { p.answered.Do(p.unclaim) }

// Leave gives back the slot.
func (p *Pass) Leave() {
	p.left.Do(func() {
		p.leave()
		p.Answered()
	})
}

// Enter waits for a slot for client.
func (g *Gate) Enter(ctx context.Context, client string) (*Pass, error) {
	patient, _ := ctx.Value(patientKey{}).(bool)
	fleetRelease := func() {}
	if g.fleet != nil {
		rel, ok := g.fleet.Acquire(ctx, client)
		if !ok {
			return nil, ErrClientBusy
		}
		fleetRelease = rel
	}
	if err := g.take(ctx, client, patient); err != nil {
		fleetRelease()
		return nil, err
	}
	return &Pass{leave: g.leave, unclaim: func() {
		fleetRelease()
		g.unclaim(client)
	}}, nil
}

// take gives client a slot: at once if one is free for it, or after a wait
// in the queue.
func (g *Gate) take(ctx context.Context, client string, patient bool) error {
	g.mu.Lock()
	if !patient {
		g.lastSync = time.Now()
	}
	w := &waiter{client: client, patient: patient, done: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	g.grant()
	select {
	case <-w.done:
		g.mu.Unlock()
		return nil
	default:
	}
	if !patient {
		g.remove(w)
		if err := g.mayWait(client); err != nil {
			g.mu.Unlock()
			return err
		}
		g.waiters = append(g.waiters, w)
	}
	g.mu.Unlock()

	if g.fleet != nil {
		defer g.fleet.Wait(ctx, client)()
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	var err error
	for err == nil {
		select {
		case <-w.done:
			return w.err
		case <-t.C:
			if !patient {
				err = ErrOverloaded
				break
			}
			// The last slot it left free may be its own by now.
			g.mu.Lock()
			g.grant()
			g.mu.Unlock()
			t.Reset(g.wait)
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.done:
		if w.err == nil { // handed over as the wait ended: to the next
			g.inUse--
			g.unclaimLocked(client)
			g.grant()
		}
	default:
		g.remove(w)
	}
	return err
}

// mayWait says whether one more request of client may queue: not when the
// client holds its share while another client waits. In a full queue it
// takes the place of the newest waiter of a client past its own places, or
// else is refused. Called with mu held.
func (g *Gate) mayWait(client string) error {
	queued, others := 0, false
	count := map[string]int{}
	for _, w := range g.waiters {
		if w.patient {
			continue
		}
		queued++
		count[w.client]++
		others = others || w.client != client
	}
	switch {
	case g.perClient > 0 && g.running[client] >= g.perClient && others:
		return ErrClientBusy
	case queued < g.queue:
		return nil
	case count[client] >= g.clientQueue:
		return ErrOverloaded
	}
	for i := len(g.waiters) - 1; i >= 0; i-- {
		if w := g.waiters[i]; !w.patient && count[w.client] > g.clientQueue {
			g.remove(w)
			w.err = ErrClientBusy
			close(w.done)
			return nil
		}
	}
	return ErrOverloaded
}

// mayTake says whether a free slot may go to a caller: a patient one does
// not take the last while synchronous requests keep coming. Called with mu
// held.
func (g *Gate) mayTake(patient bool) bool {
	return !patient || g.slots < 2 || g.inUse < g.slots-1 || time.Since(g.lastSync) > g.wait
}

// grant hands free slots to waiters: the client with the fewest captures
// running first, in order of arrival among equals. Called with mu held.
func (g *Gate) grant() {
	for g.inUse < g.slots && (g.inUse == 0 || g.hold == nil || !g.hold()) {
		var w *waiter
		for _, x := range g.waiters {
			if g.mayTake(x.patient) && (w == nil || g.running[x.client] < g.running[w.client]) {
				w = x
			}
		}
		if w == nil {
			return
		}
		g.remove(w)
		g.inUse++
		g.running[w.client]++
		close(w.done)
	}
}

func (g *Gate) remove(w *waiter) {
	for i, x := range g.waiters {
		if x == w {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			return
		}
	}
}

func (g *Gate) unclaim(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unclaimLocked(client)
}

func (g *Gate) unclaimLocked(client string) {
	if g.running[client]--; g.running[client] <= 0 {
		delete(g.running, client)
	}
}

func (g *Gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inUse--
	g.grant()
}

// InUse is the number of running captures.
func (g *Gate) InUse() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inUse
}

// Waiting is the number of queued requests.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiters)
}
