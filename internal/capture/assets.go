package capture

import (
	"context"
	"sync"

	"github.com/pixashot/pixashot-cloudrun/internal/blocklist"
	"github.com/pixashot/pixashot-cloudrun/internal/consent"
)

// Asset is data a capture may need, loaded once per process in the
// background: at start (Load: it costs the cold start nothing), or at the
// first capture that needs it (Lazy: it costs an instance that never uses
// it nothing). A capture that needs it before it is ready waits, bounded
// by its own deadline.
type Asset[T any] struct {
	done  chan struct{}
	start sync.Once
	load  func() (T, error)
	v     T
	err   error
}

// Load starts loading an asset now.
func Load[T any](load func() (T, error)) *Asset[T] {
	a := Lazy(load)
	a.begin()
	return a
}

// Lazy loads an asset when a capture first asks for it.
func Lazy[T any](load func() (T, error)) *Asset[T] {
	return &Asset[T]{done: make(chan struct{}), load: load}
}

func (a *Asset[T]) begin() {
	a.start.Do(func() {
		go func() {
			defer close(a.done)
			a.v, a.err = a.load()
		}()
	})
}

// Get waits for the asset; a nil asset is one the deployment did not set up.
func (a *Asset[T]) Get(ctx context.Context) (T, error) {
	var zero T
	if a == nil {
		return zero, errUnconfigured
	}
	a.begin()
	select {
	case <-a.done:
		return a.v, a.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

var errUnconfigured = fail(Unconfigured, "this deployment has not set up the data this option needs")

// Assets are the data the page options use.
type Assets struct {
	Blocklist *Asset[*blocklist.Lists] // block_ads, block_trackers
	Consent   *Asset[*consent.Script]  // block_cookie_banners
}

// lists returns the filter lists for an option, or an Unconfigured error
// that names it and why: never a silent no-op.
func (a Assets) lists(ctx context.Context, field string) (*blocklist.Lists, error) {
	l, err := a.Blocklist.Get(ctx)
	if err != nil && ctx.Err() == nil {
		return nil, &Error{Kind: Unconfigured, Message: field + " needs the EasyList, EasyPrivacy and URLhaus lists, which this deployment could not load", Cause: err}
	}
	return l, err
}

func (a Assets) consent(ctx context.Context) (*consent.Script, error) {
	s, err := a.Consent.Get(ctx)
	if err != nil && ctx.Err() == nil {
		return nil, &Error{Kind: Unconfigured, Message: "block_cookie_banners needs DuckDuckGo's autoconsent, which this deployment could not load", Cause: err}
	}
	return s, err
}
