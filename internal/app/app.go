// Package app assembles an instance from its configuration: the egress guard,
// the browser, the capture engine and the HTTP server.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/pixashot/pixashot-cloudrun/internal/admission"
	"github.com/pixashot/pixashot-cloudrun/internal/agent"
	"github.com/pixashot/pixashot-cloudrun/internal/audit"
	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/blocklist"
	"github.com/pixashot/pixashot-cloudrun/internal/browser"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/consent"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
	"github.com/pixashot/pixashot-cloudrun/internal/logging"
	"github.com/pixashot/pixashot-cloudrun/internal/monitors"
	"github.com/pixashot/pixashot-cloudrun/internal/openapi"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/scheduler"
	"github.com/pixashot/pixashot-cloudrun/internal/server"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/tasks"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// App is one running instance.
type App struct {
	Browsers *browser.Manager
	Guard    *egress.Guard
	Gate     *admission.Gate
	engine   *capture.Engine
	handler  http.Handler
	closers  []func()
	secrets  *secretmanager.Client // shared by the token store and the signing keys
	grace    time.Duration
	draining atomic.Bool
	drainers []func() // at SIGTERM: stop taking work that is not a request
}

// Options lets tests replace parts that have no environment variable.
type Options struct {
	Logger   *slog.Logger
	Resolver egress.Resolver // the guard's DNS; nil is the system resolver
	// A key to sign Cloud Storage URLs with instead of IAM signBlob, for
	// tests against the emulator.
	StorageSignerEmail string
	StorageSignerKey   []byte
}

// ErrNoAuth is a start with no way to authenticate anyone: the original turned
// auth off in that case; this service refuses to start.
var ErrNoAuth = errors.New("no authentication configured: set AUTH_TOKEN or AUTH_SECRET_PROJECT")

// New builds the instance and starts its browser; it returns when the browser
// answers, so an instance is warm before it takes traffic.
func New(ctx context.Context, cfg *config.Config, opt Options) (*App, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(cfg.AuthTokens) == 0 && cfg.AuthSecretProject == "" {
		return nil, ErrNoAuth
	}
	// Lines logged with a request's context name its trace.
	log = logging.WithTrace(log, cfg.AuditProject)
	a := &App{grace: cfg.ShutdownGrace}
	// Whatever was started before a failure is stopped, last first: one
	// cleanup for every way out.
	built := false
	defer func() {
		if !built {
			a.Close()
		}
	}()
	tel, err := telemetry.Start(ctx, telemetry.Config{Exporter: cfg.MetricsExporter, Project: cfg.AuditProject,
		Interval: cfg.MetricsInterval, SampleRatio: cfg.TraceSampleRatio, MonitoringEndpoint: cfg.MonitoringEndpoint,
		TraceEndpoint: cfg.TraceEndpoint, Logger: log})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() {
		// What is buffered goes out before the instance ends (Cloud Run
		// gives 10 s after SIGTERM; the captures' grace comes first).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Close(ctx)
	})
	authn, keysReady, err := a.authenticator(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.Guard = egress.New(egress.Config{
		AllowCIDRs: cfg.EgressAllowCIDRs,
		AllowPorts: cfg.EgressAllowPorts,
		Resolver:   opt.Resolver,
		Logger:     log,
		Metrics:    tel.Metrics,
		MaxBytes:   cfg.EgressMaxBytes,
		MaxConns:   cfg.EgressMaxConns,
		Upstream:   cfg.UpstreamProxy,
		Chaining:   cfg.ProxyChaining,
	})
	// The default browser context serves no capture, but it gets a guard
	// session too: nothing in the browser is ever without one.
	def, err := a.Guard.Open("default-context")
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, def.Close)
	a.Browsers = browser.New(browser.Config{
		ExecPath:     cfg.ChromePath,
		ProxyURL:     def.ProxyURL(),
		RecycleAfter: cfg.RecycleAfter,
		NoSandbox:    cfg.NoSandbox,
		Logger:       log,
		Metrics:      tel.Metrics,
		// A page that grows without end is ended before it takes the
		// instance's memory.
		RendererMaxBytes: int64(cfg.RendererMaxMB) << 20,
		// ... and the instance's captures together before theirs.
		InstanceMaxBytes: int64(cfg.InstanceMB) << 20,
	})
	a.closers = append(a.closers, a.Browsers.Close)
	// The cookie-banner rules load in the background while Chrome starts,
	// not while the first warm tab opens (both want the CPU).
	assets := loadAssets(cfg, log)
	if err := a.Browsers.Start(ctx); err != nil {
		return nil, err
	}
	engine := &capture.Engine{Browsers: a.Browsers, Guard: a.Guard,
		Limits: capture.Limits{MaxPixels: cfg.MaxPixels, MaxOutputBytes: cfg.MaxOutputBytes},
		Assets: assets, PNGForSpeed: cfg.PNGEncoding == "speed"}
	a.engine = engine
	a.closers = append(a.closers, engine.StartWarm(cfg.WarmTabs))
	var limiter ratelimit.Allower = ratelimit.NewLimiter(cfg.RateLimit)
	gate := admission.New(cfg.MaxConcurrency, cfg.QueueSize, cfg.QueueWait)
	var fleet admission.Fleet
	if cfg.RedisURL != "" {
		shared, err := ratelimit.NewShared(ratelimit.RedisConfig{URL: cfg.RedisURL, Password: cfg.RedisPassword, CACert: cfg.RedisCACert}, cfg.RateLimit, log)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		a.closers = append(a.closers, func() { shared.Close() })
		limiter = shared
		if cfg.ClientMaxFleet > 0 {
			fleet = shared.Fleet(cfg.ClientMaxFleet, cfg.CaptureTimeout+30*time.Second)
		}
	}
	gate.WithClientShare(cfg.ClientMaxConc, fleet)
	// Near the memory budget a new capture waits for one to end.
	gate.HoldWhile(a.Browsers.Pressed)
	a.Gate = gate
	sink, err := auditSink(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { sink.Close() })
	srv := &server.Server{
		Audit:   sink,
		Auth:    authn,
		Limiter: limiter,
		Engine:  engine,
		Gate:    gate,
		Ready: func(ctx context.Context) bool {
			return !a.draining.Load() && keysReady() && a.Browsers.Ready(ctx)
		},
		Live:         a.Browsers.Alive,
		Limits:       options.Limits{MaxTimeout: cfg.CaptureTimeout, MaxPixels: cfg.MaxPixels},
		Timeout:      cfg.CaptureTimeout,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Logger:       log,
		TrustedHops:  cfg.TrustedHops,
		Metrics:      tel.Metrics,
		Tracer:       tel.Tracer,
		MetricsPage:  tel.Handler,
		MetricsToken: cfg.MetricsToken,
	}
	limits := srv.Limits
	srv.Agents = &agent.Config{Version: "2.0.0", MaxImageBytes: cfg.MCPMaxImageBytes,
		Schema: func(without ...string) map[string]any { return openapi.OptionsSchema(limits, without...) }}
	if srv.Signer, err = a.signer(ctx, cfg, log); err != nil {
		return nil, err
	}
	st, files, err := a.store(ctx, cfg, opt, log)
	if err != nil {
		return nil, err
	}
	srv.Store, srv.Files = st, files
	var watch *monitors.Runner
	if srv.Async, watch, err = a.async(ctx, cfg, srv, st, log); err != nil {
		return nil, err
	}
	if srv.Monitors, err = a.monitors(ctx, cfg, srv, watch, log); err != nil {
		return nil, err
	}
	gauges := telemetry.Gauges{
		Waiting:       func() int64 { return int64(gate.Waiting()) },
		Running:       func() int64 { return int64(gate.InUse()) },
		BrowserMemory: a.Browsers.Memory,
	}
	if q, ok := srv.Async.Queue.(*jobs.Embedded); ok {
		gauges.Queued = func() int64 { return int64(q.Pending()) }
	}
	if err := tel.Metrics.Observe(gauges); err != nil {
		return nil, err
	}
	a.handler = srv.Handler()
	// The first warm tab opened while the rest was set up; serving only
	// once it is there spares the first capture opening its own (~70 ms).
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	engine.WaitWarm(wctx)
	wcancel()
	built = true
	return a, nil
}

// authenticator builds the token check: static tokens, then the Secret
// Manager store. The store's first load happens here; if it fails the
// instance starts anyway but is not ready, and keeps retrying.
func (a *App) authenticator(ctx context.Context, cfg *config.Config, log *slog.Logger) (auth.Authenticator, func() bool, error) {
	var chain auth.Chain
	if len(cfg.AuthTokens) > 0 {
		chain = append(chain, auth.NewStatic(cfg.AuthTokens))
	}
	if cfg.AuthSecretProject == "" {
		return chain, func() bool { return true }, nil
	}
	client, err := a.secretClient(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	store := keystore.New(client, keystore.Config{Project: cfg.AuthSecretProject, Refresh: cfg.AuthRefresh,
		MaxAge: cfg.AuthTokenMaxAge, Logger: log})
	a.keepLoaded(ctx, cfg, log, "client tokens", store.Ready, store.Load,
		"loading client tokens failed; not ready until a load succeeds")
	return append(chain, store), store.Ready, nil
}

// keepLoaded loads what from Secret Manager now (a failure is logged with
// failed and its args, and retried soon), then again every
// AUTH_REFRESH_INTERVAL until the app closes.
func (a *App) keepLoaded(ctx context.Context, cfg *config.Config, log *slog.Logger, what string, ready func() bool,
	load func(context.Context) error, failed string, args ...any) {
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	if err := load(lctx); err != nil {
		log.Error(failed, append(args, "error", err)...)
	}
	cancel()
	rctx, stop := context.WithCancel(context.Background())
	go keystore.Refresh(rctx, cfg.AuthRefresh, ready, load, log, what)
	a.closers = append(a.closers, stop)
}

func (a *App) secretClient(ctx context.Context, cfg *config.Config) (*secretmanager.Client, error) {
	if a.secrets == nil {
		c, err := keystore.NewClient(ctx, cfg.SecretEndpoint)
		if err != nil {
			return nil, err
		}
		a.secrets = c
		a.closers = append(a.closers, func() { c.Close() })
	}
	return a.secrets, nil
}

// signer holds the URL signing keys: URL_SIGNING_KEY locally, or every
// enabled version of URL_SIGNING_SECRET, reloaded like the client tokens.
// nil turns signed URLs off.
func (a *App) signer(ctx context.Context, cfg *config.Config, log *slog.Logger) (*signing.Signer, error) {
	if cfg.URLSigningSecret == "" {
		if len(cfg.URLSigningKeys) == 0 {
			return nil, nil
		}
		return signing.New(cfg.URLSigningKeys...), nil
	}
	client, err := a.secretClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := signing.New()
	loaded := false
	load := func(ctx context.Context) error {
		vs, err := keystore.EnabledVersions(ctx, client, cfg.URLSigningSecret)
		if err != nil {
			return err
		}
		keys := make([][]byte, 0, len(vs))
		for _, v := range vs {
			keys = append(keys, v.Data)
		}
		s.SetKeys(keys)
		loaded = len(keys) > 0
		return nil
	}
	a.keepLoaded(ctx, cfg, log, "URL signing keys", func() bool { return loaded }, load,
		"loading URL signing keys failed; signed URLs are refused until a load succeeds")
	return s, nil
}

// store keeps stored captures in BUCKET, or else in STORAGE_DIR, whose
// links the service serves itself (files).
func (a *App) store(ctx context.Context, cfg *config.Config, opt Options, log *slog.Logger) (*store.Store, server.FileLinks, error) {
	policy := store.Config{URLTTL: cfg.SignedURLTTL, Retention: cfg.StorageRetention, Logger: log}
	if cfg.Bucket != "" {
		email, key := opt.StorageSignerEmail, opt.StorageSignerKey
		if len(key) == 0 {
			// A local run (a key file, or an emulator) signs with a key; Cloud
			// Run signs through IAM signBlob.
			e, k, ok, err := store.LocalSigner(cfg.CredentialsFile, cfg.StorageEmulatorHost != "")
			if err != nil {
				return nil, nil, err
			}
			if ok {
				email, key = e, k
				log.Info("download URLs are signed with a local key", "signer", email)
			}
		}
		g, err := store.OpenGCS(ctx, store.GCSConfig{Bucket: cfg.Bucket, EmulatorHost: cfg.StorageEmulatorHost,
			SignerEmail: email, SignerKey: key})
		if err != nil {
			return nil, nil, err
		}
		a.closers = append(a.closers, func() { g.Close() })
		return store.New(g, policy), nil, nil
	}
	d, err := store.OpenDisk(cfg.StorageDir)
	if err != nil {
		return nil, nil, err
	}
	a.closers = append(a.closers, func() { d.Close() })
	return store.New(d, policy), d, nil
}

// async builds POST /captures: the job runner on the server's own pipeline,
// and its queue (Cloud Tasks with TASKS_QUEUE, else embedded in STORAGE_DIR).
// Monitors' runs come through the same queue, to the runner it returns.
func (a *App) async(ctx context.Context, cfg *config.Config, srv *server.Server, st *store.Store, log *slog.Logger) (*server.Async, *monitors.Runner, error) {
	keys, err := a.webhookKeys(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	as := &server.Async{Records: st, BatchMax: cfg.BatchMax, CheckAddress: a.Guard.CheckAddress, CheckProxy: a.engine.CheckProxy, WebhookKeys: keys}
	sender := webhook.NewSender(a.Guard.DialContext)
	runner := &jobs.Runner{Records: st, Capture: srv.RunJob, Sender: sender,
		Keys: keys, Link: st.Get, Logger: log, Metrics: srv.Metrics, Tracer: srv.Tracer}
	watch := &monitors.Runner{Records: st, Capture: srv.RunJob, Link: st.Get, Sender: sender, Keys: keys, Logger: log}
	run := func(ctx context.Context, t jobs.Task) bool {
		if t.Monitor != "" {
			return watch.Run(ctx, t)
		}
		return runner.Process(ctx, t)
	}
	if cfg.TasksQueue != "" {
		as, err := a.cloudTasks(ctx, cfg, as, runner, run, log)
		return as, watch, err
	}
	// Webhooks go out from their own workers: a receiver that hangs holds
	// one of webhookWorkers (at most webhookPerClient of one client's),
	// never a capture worker. Durable like the captures' queue.
	hooks, err := jobs.OpenEmbedded(jobs.EmbeddedConfig{Dir: filepath.Join(cfg.StorageDir, ".webhooks"), Max: cfg.QueueMax,
		Workers: webhookWorkers, ClientRunning: webhookPerClient, Run: runner.Deliver, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	runner.Deliveries = hooks
	q, err := jobs.OpenEmbedded(jobs.EmbeddedConfig{Dir: filepath.Join(cfg.StorageDir, ".queue"), Max: cfg.QueueMax,
		ClientMax: cfg.ClientQueueMax, Workers: cfg.MaxConcurrency, Run: run, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	for _, e := range []*jobs.Embedded{hooks, q} {
		e.Start()
		a.drainers = append(a.drainers, e.Stop)
		a.closers = append(a.closers, func() { e.Close(time.Second) })
	}
	as.Queue = q
	return as, watch, nil
}

// monitors builds POST /monitors on the async side: Cloud Scheduler jobs
// with TASKS_QUEUE, else the embedded clock in STORAGE_DIR.
func (a *App) monitors(ctx context.Context, cfg *config.Config, srv *server.Server, watch *monitors.Runner, log *slog.Logger) (*server.Monitors, error) {
	if cfg.MonitorsMax == 0 {
		return nil, nil
	}
	if cfg.TasksEndpoint != "" && cfg.SchedulerEndpoint == "" {
		// Cloud Tasks is a local stand-in: the real Cloud Scheduler could not
		// call this service, and there are no credentials to ask it with.
		log.Info("monitors are off: TASKS_ENDPOINT names a stand-in and SCHEDULER_ENDPOINT none", "event", "monitors_off")
		return nil, nil
	}
	// A run compares with the last run's capture: it must come before the
	// lifecycle deletes that (STORAGE_RETENTION), with a margin.
	m := &server.Monitors{Max: cfg.MonitorsMax, MaxGap: cfg.StorageRetention - min(time.Hour, cfg.StorageRetention/2)}
	if cfg.TasksQueue != "" {
		client, err := scheduler.NewClient(ctx, cfg.SchedulerEndpoint)
		if err != nil {
			return nil, fmt.Errorf("SCHEDULER_PARENT: %w", err)
		}
		a.closers = append(a.closers, func() { client.Close() })
		m.Schedules = &scheduler.Cloud{Client: client, Parent: cfg.SchedulerParent, Prefix: cfg.SchedulerPrefix,
			URL: cfg.TasksURL + server.MonitorPath, Audience: cfg.TasksURL, Invoker: cfg.TasksInvoker}
		m.Verify = srv.Async.Tasks.Verify
	} else {
		clock, err := scheduler.OpenEmbedded(filepath.Join(cfg.StorageDir, ".monitors"), srv.QueueRun, log)
		if err != nil {
			return nil, err
		}
		clock.Start()
		a.drainers = append(a.drainers, clock.Close) // after SIGTERM, no new runs
		a.closers = append(a.closers, clock.Close)
		m.Schedules = clock
	}
	watch.Forget = m.Schedules.Delete
	return m, nil
}

// Webhook deliveries in flight at once on an instance, and of one client.
const (
	webhookWorkers   = 8
	webhookPerClient = 2
)

// webhookKeys finds a client's webhook keys: its own secret beside its
// tokens (with AUTH_SECRET_PROJECT), else WEBHOOK_SIGNING_KEY.
func (a *App) webhookKeys(ctx context.Context, cfg *config.Config, log *slog.Logger) (func(string) [][]byte, error) {
	global := func(string) [][]byte {
		if cfg.WebhookKey == nil {
			return nil
		}
		return [][]byte{cfg.WebhookKey}
	}
	if cfg.AuthSecretProject == "" {
		return global, nil
	}
	client, err := a.secretClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	wk := keystore.NewWebhookKeys(client, cfg.AuthSecretProject, log)
	a.keepLoaded(ctx, cfg, log, "webhook keys", wk.Loaded, wk.Load, "loading webhook keys failed; retrying", "event", "key_load_failed")
	return func(c string) [][]byte {
		if k := wk.Keys(c); len(k) > 0 {
			return k
		}
		return global(c)
	}, nil
}

// cloudTasks queues jobs on TASKS_QUEUE and serves their deliveries.
func (a *App) cloudTasks(ctx context.Context, cfg *config.Config, as *server.Async, runner *jobs.Runner,
	run func(context.Context, jobs.Task) bool, log *slog.Logger,
) (*server.Async, error) {
	client, err := tasks.NewClient(ctx, cfg.TasksEndpoint)
	if err != nil {
		return nil, fmt.Errorf("TASKS_QUEUE: %w", err)
	}
	a.closers = append(a.closers, func() { client.Close() })
	as.Queue = &tasks.Queue{Client: client, Name: cfg.TasksQueue, URL: cfg.TasksURL + server.TasksPath,
		Audience: cfg.TasksURL, Invoker: cfg.TasksInvoker, Deadline: cfg.CaptureTimeout + 2*time.Minute}
	v := &tasks.Verifier{CertsURL: cfg.TasksCertsURL, Audience: cfg.TasksURL, Email: cfg.TasksInvoker,
		HTTP: &http.Client{Timeout: 10 * time.Second}}
	as.Tasks = &server.TaskRoute{Verify: v.Verify, Logger: log, MaxAttempts: cfg.TasksMaxAttempts,
		Process: func(r *http.Request, t jobs.Task) bool { return run(r.Context(), t) },
		Abandon: func(r *http.Request, t jobs.Task) {
			if t.Monitor != "" {
				log.WarnContext(r.Context(), "a monitor's run found no capture slot in any attempt; the next slot runs it",
					"event", "monitor_skipped", "monitor", t.Monitor, "client", t.Client)
				return
			}
			runner.Abandon(r.Context(), t, "Overloaded", "the capture found no free slot in any of the queue's attempts; submit it again")
		}}
	return as, nil
}

// auditSink is Cloud Logging when a project is configured, else stdout.
func auditSink(ctx context.Context, cfg *config.Config, log *slog.Logger) (audit.Sink, error) {
	if cfg.AuditProject == "" {
		return audit.Stdout{Log: log}, nil
	}
	return audit.NewCloud(ctx, cfg.AuditProject, cfg.LoggingEndpoint, func(err error) {
		log.Error("writing the audit log failed", "event", "audit_write_failed", "error", err)
	})
}

// Drain makes readiness fail from now on, so the platform sends no new
// traffic while the captures in flight finish.
func (a *App) Drain() {
	a.draining.Store(true)
	for _, d := range a.drainers {
		d()
	}
}

// ShutdownGrace is how long captures in flight may finish after SIGTERM.
func (a *App) ShutdownGrace() time.Duration { return a.grace }

// Handler serves every route.
func (a *App) Handler() http.Handler { return a.handler }

// Close stops everything, last started first: users of a client stop before
// the client closes, the browser before its guard session.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// loadAssets starts loading the data of the page options in the background;
// a missing one is an error in the log at start, and an answer naming it to
// every request that asks for it.
func loadAssets(cfg *config.Config, log *slog.Logger) capture.Assets {
	logged := func(name string, err error) {
		if err != nil {
			log.Error("a page option's data is missing; requests that use it will be refused", "event", "asset_missing", "asset", name, "error", err)
		}
	}
	// The lists hold ~35 MB once parsed: they are parsed at the first
	// capture that asks for them (~0.3 s, once), so an instance that never
	// blocks never pays; whether they are there is known at start.
	logged("blocklist", blocklist.Check(cfg.BlocklistDir))
	return capture.Assets{
		Blocklist: capture.Lazy(func() (*blocklist.Lists, error) {
			l, err := blocklist.Load(cfg.BlocklistDir)
			if err != nil {
				log.Error("the filter lists could not be parsed; requests that use them will be refused", "event", "asset_missing",
					"asset", "blocklist", "error", err)
			}
			// Parsing leaves several times the lists' size in garbage: give
			// it back to the system now, not at the next GCs' pace.
			debug.FreeOSMemory()
			return l, err
		}),
		Consent: capture.Load(func() (*consent.Script, error) {
			dir := consent.Find(cfg.AutoconsentDir)
			s, err := consent.Load(dir)
			logged("autoconsent", err)
			if err == nil {
				log.Info("cookie-banner rules loaded", "event", "asset_found", "asset", "autoconsent", "dir", dir)
			}
			return s, err
		}),
	}
}
