// Package admission caps the captures running at once on an instance, and
// each client's share of them. A few more may queue for a short while; past
// that, the answer is "overloaded" straight away, so a burst turns into fast
// 503s instead of piled-up timeouts.
package admission

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded means no slot was free within the wait, or the queue was full.
var ErrOverloaded = errors.New("overloaded")

// ErrClientBusy means the client already runs as many captures as its share
// allows: its own slow captures never starve other clients.
var ErrClientBusy = errors.New("the client's share of the capture slots is in use")

// Fleet counts a client's captures across every instance (Redis). Acquire
// reports whether one more may start; release gives it back. An
// implementation that cannot reach its store says yes: the per-instance
// share still holds.
type Fleet interface {
	Acquire(ctx context.Context, client string) (release func(), ok bool)
}

// Gate admits at most Slots captures at once, and at most PerClient of one
// client.
type Gate struct {
	slots     chan struct{}
	waiting   atomic.Int64
	queue     int64
	wait      time.Duration
	perClient int
	fleet     Fleet

	mu      sync.Mutex
	running map[string]int
}

// New returns a gate with slots running places, queue waiting places, and the
// longest time a request waits for a place; a client may hold all of them
// until WithClientShare says otherwise.
func New(slots, queue int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, slots), queue: int64(queue), wait: wait, running: map[string]int{}}
}

// WithClientShare limits each client to perClient places here, and through
// fleet (if not nil) across instances.
func (g *Gate) WithClientShare(perClient int, fleet Fleet) *Gate {
	g.perClient, g.fleet = perClient, fleet
	return g
}

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
	if !g.claim(client) {
		return nil, ErrClientBusy
	}
	fleetRelease := func() {}
	if g.fleet != nil {
		rel, ok := g.fleet.Acquire(ctx, client)
		if !ok {
			g.unclaim(client)
			return nil, ErrClientBusy
		}
		fleetRelease = rel
	}
	leave, err := g.enter(ctx)
	if err != nil {
		fleetRelease()
		g.unclaim(client)
		return nil, err
	}
	return &Pass{leave: leave, unclaim: func() {
		fleetRelease()
		g.unclaim(client)
	}}, nil
}

func (g *Gate) claim(client string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perClient > 0 && g.running[client] >= g.perClient {
		return false
	}
	g.running[client]++
	return true
}

func (g *Gate) unclaim(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[client]--; g.running[client] <= 0 {
		delete(g.running, client)
	}
}

func (g *Gate) enter(ctx context.Context) (func(), error) {
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	default:
	}
	if g.waiting.Add(1) > g.queue {
		g.waiting.Add(-1)
		return nil, ErrOverloaded
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		return nil, ErrOverloaded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gate) leave() { <-g.slots }

// InUse is the number of running captures.
func (g *Gate) InUse() int { return len(g.slots) }

// Waiting is the number of queued requests.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }
