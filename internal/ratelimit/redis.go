package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// bucketScript is the token bucket as one atomic step in Redis, on Redis's
// own clock, so instances whose clocks differ still share one bucket.
var bucketScript = redis.NewScript(`
local cap = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil then tokens = cap; at = now end
tokens = math.min(cap, tokens + (now - at) / per)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap * per / 1000) + 1000)
return {allowed, tostring(tokens)}
`)

// Shared keeps the buckets in Redis, so the limit holds across instances. If
// Redis cannot answer, it says so in the log and limits locally instead of
// failing requests.
type Shared struct {
	rate     Rate
	rdb      *redis.Client
	local    *Limiter
	log      *slog.Logger
	degraded atomic.Bool
}

// NewShared connects to url (redis://host:port/db).
func NewShared(url string, rate Rate, log *slog.Logger) (*Shared, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 500*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	opt.MaxRetries = 0 // a retry would only double the wait; the local limiter answers instead
	return &Shared{rate: rate, rdb: redis.NewClient(opt), local: NewLimiter(rate), log: log}, nil
}

// Enabled reports whether any limit applies.
func (s *Shared) Enabled() bool { return s.rate.N > 0 }

// Allow takes a token from key's shared bucket.
func (s *Shared) Allow(key string) Decision {
	perToken := s.rate.Period / time.Duration(s.rate.N)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := bucketScript.Run(ctx, s.rdb, []string{"pixashot:rl:" + key}, s.rate.N, perToken.Microseconds()).Slice()
	if err != nil || len(res) != 2 {
		if !s.degraded.Swap(true) {
			s.log.Error("the shared rate limit store is unreachable; limiting per instance", "event", "ratelimit_degraded", "error", err)
		}
		return s.local.Allow(key)
	}
	if s.degraded.Swap(false) {
		s.log.Info("the shared rate limit store answers again", "event", "ratelimit_restored")
	}
	allowed, _ := res[0].(int64)
	str, _ := res[1].(string)
	tokens, _ := strconv.ParseFloat(str, 64)
	now := time.Now()
	d := Decision{Allowed: allowed == 1, Limit: s.rate.N, Remaining: int(tokens),
		Reset: now.Add(time.Duration((float64(s.rate.N) - tokens) * float64(perToken)))}
	if !d.Allowed {
		d.RetryAfter = time.Duration((1 - tokens) * float64(perToken))
	}
	return d
}

// Close closes the connection pool.
func (s *Shared) Close() error { return s.rdb.Close() }
