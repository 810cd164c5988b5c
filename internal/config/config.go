// Package config reads the service's settings from the environment, with the
// names and defaults of the contract. A bad value is an error naming it.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/blocklist"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/ratelimit"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// Config is the whole configuration of an instance.
type Config struct {
	Port       string
	ChromePath string
	NoSandbox  bool

	AuthTokens        []string
	AuthSecretProject string
	AuthRefresh       time.Duration
	AuthTokenMaxAge   time.Duration
	SecretEndpoint    string   // plaintext gRPC stand-in for Secret Manager
	AuditProject      string   // where the pixashot-audit log goes; unset: stdout
	LoggingEndpoint   string   // plaintext gRPC stand-in for Cloud Logging
	URLSigningKeys    [][]byte // newest first
	URLSigningSecret  string   // projects/P/secrets/S: every enabled version verifies, the newest signs
	RateLimit         ratelimit.Rate
	RedisURL          string // shared rate-limit store; unset: per instance
	RedisPassword     string // AUTH string (Memorystore with AUTH); never logged
	RedisCACert       string // PEM of the CA a rediss:// server's certificate must chain to

	Bucket              string        // Cloud Storage bucket; unset: StorageDir
	StorageEmulatorHost string        // fake-gcs-server or another stand-in
	CredentialsFile     string        // GOOGLE_APPLICATION_CREDENTIALS: a service-account key signs download URLs locally
	StorageDir          string        // local stored captures
	SignedURLTTL        time.Duration // lifetime of download URLs
	StorageRetention    time.Duration // no URL for captures older than this (the bucket lifecycle's age)

	MaxConcurrency int
	QueueSize      int
	ClientMaxConc  int // one client's captures at once on an instance
	ClientMaxFleet int // one client's captures at once across instances (Redis); 0: no such cap
	QueueWait      time.Duration
	CaptureTimeout time.Duration
	RecycleAfter   int64
	WarmTabs       int // tabs opened ahead of requests
	MaxBodyBytes   int64
	ShutdownGrace  time.Duration // how long captures in flight may finish after SIGTERM
	MaxPixels      int64         // width × height × density² of one image
	MaxOutputBytes int64         // bytes of one capture, any format
	PNGEncoding    string        // size, or speed: Chrome's fast PNG settings
	RendererMaxMB  int           // resident memory of one capture's renderer
	InstanceMB     int           // private memory of the service and its Chrome together; 0, no bound
	TrustedHops    int           // proxies whose X-Forwarded-For entries are believed

	BlocklistDir   string // EasyList, EasyPrivacy, URLhaus (block_ads, block_trackers)
	AutoconsentDir string // DuckDuckGo's autoconsent (block_cookie_banners); empty: found

	BatchMax         int    // items of one POST /captures batch
	QueueMax         int    // tasks the embedded queue holds
	ClientQueueMax   int    // of them, one client's
	WebhookKey       []byte // WEBHOOK_SIGNING_KEY (whsec_…): signs every client's webhooks
	TasksQueue       string // projects/P/locations/L/queues/Q: Cloud Tasks; unset: the embedded queue
	TasksEndpoint    string // host:port of a plaintext-gRPC Cloud Tasks stand-in (tests, local)
	TasksURL         string // this service's URL as Cloud Tasks calls it (the OIDC audience)
	TasksInvoker     string // the service account whose OIDC token a task carries
	TasksCertsURL    string // where the token's signing keys are published
	TasksMaxAttempts int    // the queue's max_attempts: the last one ends the job

	MonitorsMax       int    // monitors of one client; 0: no monitors
	SchedulerParent   string // projects/P/locations/L of Cloud Scheduler; with TASKS_QUEUE, its project and location
	SchedulerEndpoint string // host:port of a plaintext-gRPC Cloud Scheduler stand-in (tests, local)
	SchedulerPrefix   string // the jobs' names start with it: the run account may manage only those

	EgressAllowCIDRs []netip.Prefix
	EgressAllowPorts []int
	EgressMaxBytes   int64
	EgressMaxConns   int64
	// UpstreamProxy takes every connection of every capture and webhook
	// (UPSTREAM_PROXY); ProxyChaining lets a client's proxy ride behind it.
	UpstreamProxy *egress.Proxy
	ProxyChaining bool

	MetricsExporter    string        // "", "gcp" or "prometheus"
	MetricsToken       string        // the bearer GET /metrics asks for (prometheus)
	MetricsInterval    time.Duration // how often metrics go to Cloud Monitoring (gcp)
	MonitoringEndpoint string        // plaintext gRPC stand-in for Cloud Monitoring
	TraceEndpoint      string        // plaintext gRPC stand-in for Cloud Trace
	TraceSampleRatio   float64       // traces begun here (no sampled caller) that are kept

	MCPMaxImageBytes int // a screenshot tool's image is scaled down to fit
}

// chromeCandidates are tried in order when CHROME_PATH is unset.
var chromeCandidates = []string{"/usr/bin/chromium-headless-shell", "/usr/bin/chromium"}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Port:              r.str("PORT", "8080"),
		ChromePath:        FindChrome(getenv),
		NoSandbox:         r.boolean("CHROME_NO_SANDBOX", false),
		AuthTokens:        r.list("AUTH_TOKEN"),
		AuthSecretProject: r.str("AUTH_SECRET_PROJECT", ""),
		AuthRefresh:       r.duration("AUTH_REFRESH_INTERVAL", 60*time.Second),
		AuthTokenMaxAge:   r.duration("AUTH_TOKEN_MAX_AGE", 2160*time.Hour),
		SecretEndpoint:    r.str("SECRET_MANAGER_ENDPOINT", ""),
		LoggingEndpoint:   r.str("LOGGING_ENDPOINT", ""),
		CaptureTimeout:    r.duration("CAPTURE_TIMEOUT", 60*time.Second),
		QueueWait:         r.duration("QUEUE_WAIT", 10*time.Second),
		RecycleAfter:      int64(r.integer("BROWSER_RECYCLE_AFTER", 500)), // 0: never recycle
		ShutdownGrace:     r.duration("SHUTDOWN_GRACE", 8*time.Second),
		MaxPixels:         int64(r.integer("MAX_PIXELS", 64_000_000)),
		// Cloud Run answers at most 32 MiB on a buffered HTTP/1 response.
		MaxOutputBytes: int64(r.integer("MAX_OUTPUT_BYTES", 32<<20)),
		PNGEncoding:    r.str("PNG_ENCODING", "size"),
		RendererMaxMB:  r.integer("RENDERER_MAX_MEMORY_MB", 1024),
		InstanceMB:     r.integer("INSTANCE_MEMORY_MB", defaultInstanceMB(memoryLimitFiles, "/proc/meminfo")),
		TrustedHops:    r.integer("TRUSTED_PROXY_HOPS", 0),
		MaxBodyBytes:   int64(r.integer("MAX_BODY_BYTES", 10<<20)),
		EgressMaxBytes: int64(r.integer("EGRESS_MAX_BYTES", egress.DefaultMaxBytes)),
		EgressMaxConns: int64(r.integer("EGRESS_MAX_CONNECTIONS", egress.DefaultMaxConns)),
		BlocklistDir:   r.str("BLOCKLIST_DIR", blocklist.DefaultDir),
		AutoconsentDir: r.str("AUTOCONSENT_DIR", ""),
	}
	c.AuditProject = r.str("AUDIT_PROJECT", c.AuthSecretProject)
	c.BatchMax = r.integer("BATCH_MAX", 100)
	c.QueueMax = r.integer("QUEUE_MAX", 1000)
	c.ClientQueueMax = r.integer("CLIENT_QUEUE_MAX", max(c.BatchMax, c.QueueMax/4))
	if k := r.str("WEBHOOK_SIGNING_KEY", ""); k != "" {
		key, err := webhook.ParseSecret(k)
		if err != nil {
			r.fail("WEBHOOK_SIGNING_KEY", "%v", err)
		}
		c.WebhookKey = key
	}
	c.TasksQueue = r.str("TASKS_QUEUE", "")
	c.TasksEndpoint = r.str("TASKS_ENDPOINT", "")
	c.TasksURL = strings.TrimSuffix(r.str("TASKS_SERVICE_URL", ""), "/")
	c.TasksInvoker = r.str("TASKS_INVOKER_EMAIL", "")
	c.TasksCertsURL = r.str("TASKS_OIDC_CERTS_URL", "https://www.googleapis.com/oauth2/v3/certs")
	c.TasksMaxAttempts = r.integer("TASKS_MAX_ATTEMPTS", 20)
	if c.TasksQueue != "" {
		switch {
		case !tasksQueue.MatchString(c.TasksQueue):
			r.fail("TASKS_QUEUE", "must be projects/<project>/locations/<location>/queues/<queue>")
		case !strings.HasPrefix(c.TasksURL, "https://") && !(c.TasksEndpoint != "" && strings.HasPrefix(c.TasksURL, "http://")):
			r.fail("TASKS_SERVICE_URL", "must be the service's https URL (Cloud Tasks calls it with an OIDC token for that audience)")
		case !strings.Contains(c.TasksInvoker, "@"):
			r.fail("TASKS_INVOKER_EMAIL", "must be the email of the service account Cloud Tasks signs in as")
		}
	}
	c.MonitorsMax = r.integer("MONITORS_MAX", 100)
	c.SchedulerParent = r.str("SCHEDULER_PARENT", "")
	if c.SchedulerParent == "" && tasksQueue.MatchString(c.TasksQueue) {
		c.SchedulerParent = c.TasksQueue[:strings.Index(c.TasksQueue, "/queues/")]
	}
	c.SchedulerEndpoint = r.str("SCHEDULER_ENDPOINT", "")
	c.SchedulerPrefix = r.str("SCHEDULER_JOB_PREFIX", "pixashot-monitor-")
	switch {
	case c.TasksQueue != "" && !schedulerParent.MatchString(c.SchedulerParent):
		r.fail("SCHEDULER_PARENT", "must be projects/<project>/locations/<location>")
	case !jobPrefix.MatchString(c.SchedulerPrefix):
		r.fail("SCHEDULER_JOB_PREFIX", "must be 1 to 100 letters, digits, hyphens or underscores")
	}
	c.URLSigningSecret = r.str("URL_SIGNING_SECRET", "")
	if c.URLSigningSecret != "" && !strings.HasPrefix(c.URLSigningSecret, "projects/") {
		r.fail("URL_SIGNING_SECRET", "must be a full resource name, projects/<project>/secrets/<secret>")
	}
	if k := r.str("URL_SIGNING_KEY", ""); k != "" {
		if len(k) < 16 {
			r.fail("URL_SIGNING_KEY", "must be at least 16 characters")
		}
		c.URLSigningKeys = [][]byte{[]byte(k)}
	}
	rate, err := ratelimit.Parse(r.str("RATE_LIMIT", "5 per second"))
	if err != nil {
		r.fail("RATE_LIMIT", "%v", err)
	}
	c.RateLimit = rate
	c.RedisURL = r.str("REDIS_URL", "")
	c.RedisPassword = r.str("REDIS_PASSWORD", "")
	c.RedisCACert = r.str("REDIS_CA_CERT", "")
	c.Bucket = r.str("BUCKET", "")
	c.StorageEmulatorHost = r.str("STORAGE_EMULATOR_HOST", "")
	c.CredentialsFile = r.str("GOOGLE_APPLICATION_CREDENTIALS", "")
	c.StorageDir = r.str("STORAGE_DIR", "./captures")
	c.SignedURLTTL = r.duration("SIGNED_URL_TTL", 15*time.Minute)
	c.StorageRetention = r.duration("STORAGE_RETENTION", 7*24*time.Hour)
	c.MaxConcurrency = r.integer("MAX_CONCURRENCY", defaultConcurrency())
	c.QueueSize = r.integer("QUEUE_SIZE", 2*c.MaxConcurrency)
	c.ClientMaxConc = r.integer("CLIENT_MAX_CONCURRENCY", max(1, c.MaxConcurrency/2))
	c.ClientMaxFleet = r.integer("CLIENT_MAX_CONCURRENCY_GLOBAL", 0)
	c.WarmTabs = r.integer("WARM_TABS", 1)
	c.MetricsExporter = r.str("METRICS_EXPORTER", "")
	c.MetricsToken = r.str("METRICS_TOKEN", "")
	c.MetricsInterval = r.duration("METRICS_INTERVAL", 60*time.Second)
	c.MonitoringEndpoint = r.str("MONITORING_ENDPOINT", "")
	c.TraceEndpoint = r.str("TRACE_ENDPOINT", "")
	c.MCPMaxImageBytes = r.integer("MCP_MAX_IMAGE_BYTES", 5<<20)
	c.TraceSampleRatio = 0.1
	if v := r.str("TRACE_SAMPLE_RATIO", ""); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			r.fail("TRACE_SAMPLE_RATIO", "must be a number between 0 and 1")
		}
		c.TraceSampleRatio = f
	}
	for _, s := range r.list("EGRESS_ALLOW_CIDRS") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			r.fail("EGRESS_ALLOW_CIDRS", "%q is not a CIDR", s)
			continue
		}
		c.EgressAllowCIDRs = append(c.EgressAllowCIDRs, p.Masked())
	}
	if v := r.str("UPSTREAM_PROXY", ""); v != "" {
		p, err := egress.ParseProxy(v)
		if err != nil {
			r.fail("UPSTREAM_PROXY", "%s", err.Error()) // never the value: it may hold a password
		}
		c.UpstreamProxy = p
	}
	c.ProxyChaining = r.boolean("PROXY_CHAINING", false)
	var defPorts []string
	for _, p := range egress.DefaultPorts() {
		defPorts = append(defPorts, strconv.Itoa(p))
	}
	for _, s := range r.listOr("EGRESS_ALLOW_PORTS", defPorts) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			r.fail("EGRESS_ALLOW_PORTS", "%q is not a port", s)
			continue
		}
		c.EgressAllowPorts = append(c.EgressAllowPorts, n)
	}
	switch {
	case c.ChromePath == "":
		r.fail("CHROME_PATH", "no browser found at %s; install chromium-headless-shell or set CHROME_PATH", strings.Join(chromeCandidates, " or "))
	case c.MaxConcurrency < 1 || c.MaxConcurrency > maxConcurrency:
		r.fail("MAX_CONCURRENCY", "must be between 1 and %d", maxConcurrency)
	case c.ClientMaxConc < 1 || c.ClientMaxConc > c.MaxConcurrency+c.QueueSize:
		// It counts a client's captures running and waiting: up to all
		// the slots and the queue (which is no share at all).
		r.fail("CLIENT_MAX_CONCURRENCY", "must be between 1 and MAX_CONCURRENCY + QUEUE_SIZE")
	case c.ClientMaxFleet > 0 && c.RedisURL == "":
		r.fail("CLIENT_MAX_CONCURRENCY_GLOBAL", "needs REDIS_URL: the count is kept there")
	case c.QueueSize > 16*maxConcurrency:
		r.fail("QUEUE_SIZE", "must be at most %d", 16*maxConcurrency)
	case c.MaxBodyBytes < 1<<10 || c.MaxBodyBytes > 64<<20:
		r.fail("MAX_BODY_BYTES", "must be between 1024 and %d", 64<<20)
	case c.MaxPixels < 1_000_000 || c.MaxPixels > 1_000_000_000:
		r.fail("MAX_PIXELS", "must be between 1000000 and 1000000000")
	case c.MaxOutputBytes < 1<<20 || c.MaxOutputBytes > 1<<30:
		r.fail("MAX_OUTPUT_BYTES", "must be between 1 MiB and 1 GiB")
	case c.RendererMaxMB != 0 && c.RendererMaxMB < 128:
		r.fail("RENDERER_MAX_MEMORY_MB", "must be 0 (no limit) or at least 128")
	case c.InstanceMB != 0 && c.InstanceMB < 256:
		r.fail("INSTANCE_MEMORY_MB", "must be 0 (no bound) or at least 256")
	case c.TrustedHops > 4:
		r.fail("TRUSTED_PROXY_HOPS", "must be between 0 and 4 (1 behind Google's load balancer)")
	case c.ShutdownGrace > 9*time.Second:
		// Cloud Run kills the process 10 s after SIGTERM.
		r.fail("SHUTDOWN_GRACE", "must be at most 9s (Cloud Run sends SIGKILL 10 s after SIGTERM)")
	case c.QueueWait > c.CaptureTimeout:
		r.fail("QUEUE_WAIT", "must not be longer than CAPTURE_TIMEOUT")
	case c.WarmTabs < 0 || c.WarmTabs > c.MaxConcurrency:
		r.fail("WARM_TABS", "must be between 0 and MAX_CONCURRENCY")
	case c.AuthRefresh < time.Second:
		r.fail("AUTH_REFRESH_INTERVAL", "must be at least 1s")
	case c.CaptureTimeout < time.Second || c.CaptureTimeout > maxCaptureTimeout:
		r.fail("CAPTURE_TIMEOUT", "must be between 1s and %s (Cloud Run's longest request)", maxCaptureTimeout)
	case c.SignedURLTTL < time.Minute || c.SignedURLTTL > 7*24*time.Hour:
		r.fail("SIGNED_URL_TTL", "must be between 1m and 168h (the V4 signing limit)")
	case c.BatchMax < 1 || c.BatchMax > 1000:
		r.fail("BATCH_MAX", "must be between 1 and 1000")
	case c.QueueMax < c.BatchMax || c.QueueMax > 1_000_000:
		r.fail("QUEUE_MAX", "must be between BATCH_MAX and 1000000")
	case c.ClientQueueMax < c.BatchMax || c.ClientQueueMax > c.QueueMax:
		r.fail("CLIENT_QUEUE_MAX", "must be between BATCH_MAX and QUEUE_MAX")
	case c.MonitorsMax < 0 || c.MonitorsMax > 10_000:
		r.fail("MONITORS_MAX", "must be between 0 (no monitors) and 10000")
	case c.StorageRetention < time.Hour:
		r.fail("STORAGE_RETENTION", "must be at least 1h")
	case c.PNGEncoding != "size" && c.PNGEncoding != "speed":
		r.fail("PNG_ENCODING", "must be size or speed")
	case c.MetricsExporter != "" && c.MetricsExporter != "gcp" && c.MetricsExporter != "prometheus":
		r.fail("METRICS_EXPORTER", "must be gcp, prometheus or unset")
	case c.MetricsExporter == "prometheus" && len(c.MetricsToken) < 16:
		// /metrics names the service's clients: never open to anyone.
		r.fail("METRICS_TOKEN", "must be set (at least 16 characters) with METRICS_EXPORTER=prometheus")
	case c.MetricsExporter == "gcp" && c.AuditProject == "":
		r.fail("METRICS_EXPORTER", "gcp needs the project: set AUDIT_PROJECT or AUTH_SECRET_PROJECT")
	case c.MCPMaxImageBytes < 64<<10 || c.MCPMaxImageBytes > 64<<20:
		r.fail("MCP_MAX_IMAGE_BYTES", "must be between 64 KiB and 64 MiB")
	case c.MetricsInterval < time.Second || c.MetricsInterval > time.Hour:
		// Cloud Monitoring takes a point of a series at most every 5 s; the
		// floor is lower for stand-ins.
		r.fail("METRICS_INTERVAL", "must be between 1s and 1h")
	}
	return c, errors.Join(r.errs...)
}

var (
	schedulerParent = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+$`)
	jobPrefix       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
)

var tasksQueue = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/queues/[A-Za-z0-9-]{1,100}$`)

// Upper bounds of settings that size memory or hold a request: past them a
// typo (an extra zero) would be accepted and hurt only under load.
const (
	maxConcurrency    = 64
	maxCaptureTimeout = 60 * time.Minute
)

// DefaultRotationGrace is how long a rotated client key stays valid, as
// Terraform's rotation_grace defaults.
const DefaultRotationGrace = 168 * time.Hour

// RotationGrace reads ROTATION_GRACE for the rotation function, the one
// place it is read.
func RotationGrace(getenv func(string) string) (time.Duration, error) {
	r := reader{getenv: getenv}
	d := r.duration("ROTATION_GRACE", DefaultRotationGrace)
	return d, errors.Join(r.errs...)
}

// defaultConcurrency: Chrome is CPU-bound, two captures per core keep the
// cores busy while one of them waits on the network.
// instanceReserveMB is what the container's limit keeps back from the
// instance budget: memory shared between processes (Chrome's code, fonts),
// which the budget's count of private memory does not see, and the kernel's
// page cache for /tmp.
const instanceReserveMB = 384

// memoryLimitFiles hold the container's memory limit: cgroup v2, then v1.
var memoryLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// defaultInstanceMB is the memory the instance may have less the reserve:
// the container's cgroup limit, never more than the kernel's MemTotal (under
// gVisor, which shows no cgroup, MemTotal is the container's limit), or 0 (no
// bound) when neither can be read or too little is left to split.
func defaultInstanceMB(limitFiles []string, meminfo string) int {
	var limit int64
	for _, f := range limitFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil { // not "max"
			limit = n
		}
		break
	}
	if total := memTotal(meminfo); total > 0 && (limit == 0 || total < limit) {
		limit = total
	}
	if limit>>20 <= 2*instanceReserveMB {
		return 0
	}
	return int(limit>>20) - instanceReserveMB
}

// memTotal is MemTotal of a /proc/meminfo, in bytes, or 0.
func memTotal(meminfo string) int64 {
	b, err := os.ReadFile(meminfo)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func defaultConcurrency() int {
	return min(max(2*runtime.NumCPU(), 2), 16)
}

// FindChrome is the browser the service runs: CHROME_PATH when set, else the
// first of chromeCandidates that exists, else "". The benchmark and the tests
// use it too, so all of them run the same binary.
func FindChrome(getenv func(string) string) string {
	if p := strings.TrimSpace(getenv("CHROME_PATH")); p != "" {
		return p
	}
	for _, p := range chromeCandidates {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) list(name string) []string { return r.listOr(name, nil) }

func (r *reader) listOr(name string, def []string) []string {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *reader) integer(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		r.fail(name, "%q is not a non-negative integer", v)
		return def
	}
	return n
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, "%q is not a duration such as 30s or 2m", v)
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}
