package ratelimit

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
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
if ARGV[4] == '1' or tokens >= 1 then tokens = tokens - tonumber(ARGV[3]); allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) * per / 1000) + 1000)
return {allowed, tostring(tokens)}
`)

// Shared keeps the buckets in Redis, so the limit holds across instances. If
// Redis cannot answer, it says so in the log and limits locally instead of
// failing requests. A failure opens a circuit: from then on requests are
// limited locally at once, without waiting on Redis, while a background
// probe pings it; the first good ping closes the circuit.
type Shared struct {
	rate  Rate
	rdb   *redis.Client
	local *Limiter
	log   *slog.Logger
	open  atomic.Bool   // Redis failed; requests go to the local limiter
	done  chan struct{} // closed by Close: stops the probe
	probe time.Duration // between pings while open
}

// RedisConfig says how to reach the shared store.
type RedisConfig struct {
	URL      string // redis://host:port/db, or rediss:// for TLS
	Password string // AUTH string, if not in the URL
	CACert   string // PEM: with rediss://, the server's certificate must chain to it
}

// NewShared connects to the store.
func NewShared(rc RedisConfig, rate Rate, log *slog.Logger) (*Shared, error) {
	opt, err := redis.ParseURL(rc.URL)
	if err != nil {
		return nil, err
	}
	if rc.Password != "" {
		opt.Password = rc.Password
	}
	if rc.CACert != "" {
		if opt.TLSConfig == nil {
			return nil, errors.New("a CA certificate is set but the URL is not rediss://")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(rc.CACert)) {
			return nil, errors.New("the CA certificate is not PEM")
		}
		opt.TLSConfig.RootCAs = pool
		// Memorystore's certificate names no host the client dials (an IP);
		// the chain to the instance's own CA is what is checked.
		opt.TLSConfig.InsecureSkipVerify = true
		opt.TLSConfig.VerifyPeerCertificate = verifyChain(pool)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 500*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	opt.MaxRetries = 0 // a retry would only double the wait; the local limiter answers instead
	redis.SetLogger(jsonLogger{log})
	return &Shared{rate: rate, rdb: redis.NewClient(opt), local: NewLimiter(rate), log: log,
		done: make(chan struct{}), probe: time.Second}, nil
}

// verifyChain checks the server's chain against pool, without a host name.
func verifyChain(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("the server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
}

// jsonLogger sends go-redis's own messages (pool and dial trouble) to the
// service's JSON log instead of plain lines on stderr.
type jsonLogger struct{ log *slog.Logger }

func (l jsonLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "redis")
}

// Enabled reports whether any limit applies.
func (s *Shared) Enabled() bool { return s.rate.N > 0 }

// Allow takes a token from key's shared bucket.
func (s *Shared) Allow(key string) Decision { return s.take(key, 1, false) }

// Charge takes n more tokens from key's shared bucket, into debt if need be.
func (s *Shared) Charge(key string, n int) { s.take(key, n, true) }

func (s *Shared) take(key string, n int, force bool) Decision {
	if s.open.Load() {
		return s.local.take(key, n, force)
	}
	perToken := s.rate.Period / time.Duration(s.rate.N)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	forced := "0"
	if force {
		forced = "1"
	}
	res, err := bucketScript.Run(ctx, s.rdb, []string{"pixashot:rl:" + key}, s.rate.N, perToken.Microseconds(), n, forced).Slice()
	if err != nil || len(res) != 2 {
		s.trip(err)
		return s.local.take(key, n, force)
	}
	allowed, _ := res[0].(int64)
	str, _ := res[1].(string)
	tokens, _ := strconv.ParseFloat(str, 64)
	now := time.Now()
	d := Decision{Allowed: allowed == 1, Limit: s.rate.N, Remaining: max(0, int(tokens)),
		Reset: now.Add(time.Duration((float64(s.rate.N) - tokens) * float64(perToken)))}
	if !d.Allowed {
		d.RetryAfter = time.Duration((1 - tokens) * float64(perToken))
	}
	return d
}

// trip opens the circuit and starts the probe, once per outage.
func (s *Shared) trip(err error) {
	if s.open.Swap(true) {
		return
	}
	s.log.Error("the shared rate limit store is unreachable; limiting per instance", "event", "ratelimit_degraded", "error", err)
	go s.recover()
}

// recover pings Redis until it answers, then closes the circuit.
func (s *Shared) recover() {
	t := time.NewTicker(s.probe)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		err := s.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.open.Store(false)
			s.log.Info("the shared rate limit store answers again", "event", "ratelimit_restored")
			return
		}
	}
}

// Close stops the probe and closes the connection pool.
func (s *Shared) Close() error {
	close(s.done)
	return s.rdb.Close()
}

// leaseScript takes a lease on one of a client's running captures, on
// Redis's clock: within max always, over it only while no other client has
// a request waiting (KEYS[2] holds "client|id" of every waiting request,
// scored by when it lapses). A lease or a wait expires by itself, so an
// instance that dies with captures in flight gives them back after ttl.
var leaseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local prefix = ARGV[4] .. '|'
  for _, w in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if string.sub(w, 1, #prefix) ~= prefix then return 0 end
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`)

// waitScript records a waiting request until it lapses.
var waitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
`)

const waitingKey = "pixashot:waiting"

// Fleet counts each client's running captures across every instance that
// shares the Redis: a client may go over its fleet-wide share only while no
// other client waits anywhere, so one client cannot fill the fleet's slots
// while others queue, nor is it refused slots nobody else wants.
type Fleet struct {
	s   *Shared
	max int
	ttl time.Duration
}

// Fleet returns the fleet-wide share: max captures of one client at once
// while others wait, each lease held at most ttl (the capture timeout and
// some).
func (s *Shared) Fleet(max int, ttl time.Duration) *Fleet { return &Fleet{s: s, max: max, ttl: ttl} }

// Acquire takes a lease for client. While Redis cannot answer it admits
// (the per-instance share still holds), like the rate limit does.
func (f *Fleet) Acquire(ctx context.Context, client string) (func(), bool) {
	if f.s.open.Load() {
		return func() {}, true
	}
	key := "pixashot:run:" + client
	id := leaseID()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	n, err := leaseScript.Run(cctx, f.s.rdb, []string{key, waitingKey}, f.max, f.ttl.Milliseconds(), id, client).Int()
	if err != nil {
		f.s.trip(err)
		return func() {}, true
	}
	if n != 1 {
		return nil, false
	}
	return f.remover(key, id), true
}

// Wait records, until done, that client has a request waiting for a slot
// on some instance.
func (f *Fleet) Wait(ctx context.Context, client string) (done func()) {
	if f.s.open.Load() {
		return func() {}
	}
	member := client + "|" + leaseID()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := waitScript.Run(cctx, f.s.rdb, []string{waitingKey}, f.ttl.Milliseconds(), member).Err(); err != nil {
		f.s.trip(err)
		return func() {}
	}
	return f.remover(waitingKey, member)
}

func (f *Fleet) remover(key, member string) func() {
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		f.s.rdb.ZRem(rctx, key, member) //nolint:errcheck // it lapses anyway
	}
}

func leaseID() string {
	return strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatUint(leaseSeq.Add(1), 36)
}

var leaseSeq atomic.Uint64
