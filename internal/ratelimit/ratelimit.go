// Package ratelimit is the per-client limit: a token bucket that holds N
// tokens and refills N per period, so a client may burst N then keep N per period.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is N per Period; N == 0 disables limiting.
type Rate struct {
	N      int
	Period time.Duration
}

// Parse reads "5 per second", "100 per minute", "10/s", "1000/h" or "0".
func Parse(s string) (Rate, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "0" || s == "" {
		return Rate{}, nil
	}
	var num, unit string
	if a, b, ok := strings.Cut(s, "/"); ok {
		num, unit = strings.TrimSpace(a), strings.TrimSpace(b)
	} else if f := strings.Fields(s); len(f) == 3 && f[1] == "per" {
		num, unit = f[0], f[2]
	} else {
		return Rate{}, fmt.Errorf("%q is not like \"5 per second\" or \"5/s\"", s)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return Rate{}, fmt.Errorf("%q: the count must be a whole number", s)
	}
	periods := map[string]time.Duration{"s": time.Second, "second": time.Second, "m": time.Minute, "minute": time.Minute, "h": time.Hour, "hour": time.Hour}
	p, ok := periods[unit]
	if !ok {
		return Rate{}, fmt.Errorf("%q: the unit must be second, minute or hour", s)
	}
	return Rate{N: n, Period: p}, nil
}

// Decision is the outcome of one request, with what the headers report.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	Reset      time.Time     // when the bucket is full again
	RetryAfter time.Duration // when the next token arrives, if refused
}

// Allower is a limiter, local or shared.
type Allower interface {
	Enabled() bool
	Allow(key string) Decision
	Charge(key string, n int)
}

// Limiter is an in-memory limiter for one instance.
type Limiter struct {
	rate    Rate
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter for rate.
func NewLimiter(rate Rate) *Limiter {
	return &Limiter{rate: rate, now: time.Now, buckets: map[string]*bucket{}}
}

// Enabled reports whether any limit applies.
func (l *Limiter) Enabled() bool { return l.rate.N > 0 }

// Allow takes a token from key's bucket if it has one.
func (l *Limiter) Allow(key string) Decision { return l.take(key, 1, false) }

// Charge takes n more tokens from key's bucket, into debt if need be: a
// batch of n items costs what n requests cost, paid by the requests after it.
func (l *Limiter) Charge(key string, n int) { l.take(key, n, true) }

func (l *Limiter) take(key string, n int, force bool) Decision {
	now := l.now()
	perToken := l.rate.Period / time.Duration(l.rate.N)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.rate.N), at: now}
		l.buckets[key] = b
		if len(l.buckets) > 100_000 {
			l.evict(now)
		}
	}
	b.tokens = math.Min(float64(l.rate.N), b.tokens+float64(now.Sub(b.at))/float64(perToken))
	b.at = now
	d := Decision{Limit: l.rate.N}
	if force || b.tokens >= 1 {
		b.tokens -= float64(n)
		d.Allowed = true
	} else {
		d.RetryAfter = time.Duration((1 - b.tokens) * float64(perToken))
	}
	d.Remaining = max(0, int(b.tokens))
	d.Reset = now.Add(time.Duration((float64(l.rate.N) - b.tokens) * float64(perToken)))
	return d
}

// evict drops buckets that have refilled completely: they hold no state.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens >= 0 && now.Sub(b.at) >= l.rate.Period {
			delete(l.buckets, k)
		}
	}
}
