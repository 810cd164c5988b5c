// Package admission caps the captures running at once on an instance. A few
// more may queue for a short while; past that, the answer is "overloaded"
// straight away, so a burst turns into fast 503s instead of piled-up timeouts.
package admission

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// ErrOverloaded means no slot was free within the wait, or the queue was full.
var ErrOverloaded = errors.New("overloaded")

// Gate admits at most Slots captures at once.
type Gate struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
}

// New returns a gate with slots running places, queue waiting places, and the
// longest time a request waits for a place.
func New(slots, queue int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, slots), queue: int64(queue), wait: wait}
}

// Enter waits for a slot; the returned func gives it back.
func (g *Gate) Enter(ctx context.Context) (func(), error) {
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
