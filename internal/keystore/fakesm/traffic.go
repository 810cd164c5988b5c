package fakesm

import (
	"sync"
	"sync/atomic"
	"time"
)

// Traffic plays a client that keeps sending requests with its current token
// while a test rotates it, and counts the requests that failed.
type Traffic struct {
	token        atomic.Value
	sent, failed atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
}

// StartTraffic sends a request every gap; ok reports whether one succeeded.
func StartTraffic(token string, gap time.Duration, ok func(token string) bool) *Traffic {
	t := &Traffic{stop: make(chan struct{})}
	t.token.Store(token)
	t.wg.Go(func() {
		for {
			select {
			case <-t.stop:
				return
			default:
			}
			t.sent.Add(1)
			if !ok(t.token.Load().(string)) {
				t.failed.Add(1)
			}
			time.Sleep(gap)
		}
	})
	return t
}

// Switch makes the client use token from now on.
func (t *Traffic) Switch(token string) { t.token.Store(token) }

// Stop ends the traffic and returns how many requests were sent and failed.
func (t *Traffic) Stop() (sent, failed int64) {
	close(t.stop)
	t.wg.Wait()
	return t.sent.Load(), t.failed.Load()
}
