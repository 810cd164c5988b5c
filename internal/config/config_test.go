package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAndValues(t *testing.T) {
	c, err := Load(env(map[string]string{"CHROME_PATH": "/bin/true", "AUTH_TOKEN": "a, b", "EGRESS_ALLOW_CIDRS": "10.1.2.3/8, 127.0.0.2/32",
		"CAPTURE_TIMEOUT": "30s", "MAX_CONCURRENCY": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "8080" || len(c.AuthTokens) != 2 || c.CaptureTimeout != 30*time.Second || c.MaxConcurrency != 3 || c.QueueSize != 6 ||
		len(c.EgressAllowPorts) != 2 || c.EgressAllowCIDRs[0].String() != "10.0.0.0/8" ||
		c.StorageDir != "./captures" || c.SignedURLTTL != 15*time.Minute || c.Bucket != "" {
		t.Errorf("%+v", c)
	}
}

func TestBoundsOfSizingValues(t *testing.T) {
	for name, val := range map[string]string{"MAX_CONCURRENCY": "100000", "CAPTURE_TIMEOUT": "1000h"} {
		if _, err := Load(env(map[string]string{"CHROME_PATH": "/bin/true", name: val})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v", name, val, err)
		}
	}
	c, err := Load(env(map[string]string{"CHROME_PATH": "/bin/true", "BROWSER_RECYCLE_AFTER": "0"}))
	if err != nil || c.RecycleAfter != 0 {
		t.Errorf("BROWSER_RECYCLE_AFTER=0 (never): %v %v", c, err)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for name, val := range map[string]string{"CAPTURE_TIMEOUT": "soon", "MAX_CONCURRENCY": "-1", "EGRESS_ALLOW_CIDRS": "10.0.0.1",
		"EGRESS_ALLOW_PORTS": "http", "CHROME_NO_SANDBOX": "perhaps", "CHROME_PATH": "",
		"SIGNED_URL_TTL": "10d", "STORAGE_RETENTION": "1s", "WARM_TABS": "-1",
		// Unbounded or meaningless values a typo would let through.
		"MAX_BODY_BYTES": "0", "SHUTDOWN_GRACE": "30s", "MAX_PIXELS": "10",
		"MAX_OUTPUT_BYTES": "99999999999", "RENDERER_MAX_MEMORY_MB": "5", "TRUSTED_PROXY_HOPS": "9",
		"CLIENT_MAX_CONCURRENCY": "1000", "CLIENT_MAX_CONCURRENCY_GLOBAL": "3", "QUEUE_WAIT": "2h",
		"METRICS_EXPORTER": "stackdriver", "METRICS_INTERVAL": "10ms", "TRACE_SAMPLE_RATIO": "2",
		"PNG_ENCODING": "fast"} {
		m := map[string]string{"CHROME_PATH": "/bin/true", name: val}
		if name == "CHROME_PATH" {
			m["CHROME_PATH"] = ""
			chromeCandidates = []string{"/nonexistent/chrome"}
		}
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v", name, val, err)
		}
	}
}

// The instance budget defaults to the container's cgroup limit (v2, else
// v1) less the reserve, capped by MemTotal (gVisor shows no cgroup, and
// MemTotal is its limit there), and to no bound when nothing can be read.
func TestDefaultInstanceMemory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	v2, v1, none := filepath.Join(dir, "memory.max"), filepath.Join(dir, "memory.limit_in_bytes"), filepath.Join(dir, "none")
	big := write("meminfo-big", "MemTotal:       24000000 kB\nMemFree: 1 kB\n")
	small := write("meminfo-2g", "MemTotal:        2097152 kB\n")
	for _, c := range []struct {
		v2, v1, meminfo string
		want            int
	}{
		{"2147483648\n", "", big, 2048 - instanceReserveMB},
		{"max\n", "", small, 2048 - instanceReserveMB},
		{"", "2147483648\n", big, 2048 - instanceReserveMB}, // cgroup v1 (podman on a hybrid host)
		{"", "9223372036854771712\n", small, 2048 - instanceReserveMB},
		{"", "", small, 2048 - instanceReserveMB}, // gVisor: no cgroup, MemTotal is the limit
		{"536870912\n", "", big, 0},               // too small to split
		{"", "", none, 0},
	} {
		os.Remove(v2)
		os.Remove(v1)
		if c.v2 != "" {
			write("memory.max", c.v2)
		}
		if c.v1 != "" {
			write("memory.limit_in_bytes", c.v1)
		}
		if got := defaultInstanceMB([]string{v2, v1}, c.meminfo); got != c.want {
			t.Errorf("v2 %q, v1 %q, %s: %d, want %d", c.v2, c.v1, filepath.Base(c.meminfo), got, c.want)
		}
	}
}

// The metrics page is never open, and gcp needs the project it writes to.
func TestMetricsExporterNeedsItsSettings(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"METRICS_EXPORTER": "prometheus"}, "METRICS_TOKEN"},
		{map[string]string{"METRICS_EXPORTER": "prometheus", "METRICS_TOKEN": "short"}, "METRICS_TOKEN"},
		{map[string]string{"METRICS_EXPORTER": "gcp"}, "METRICS_EXPORTER"},
	} {
		c.env["CHROME_PATH"] = "/bin/true"
		if _, err := Load(env(c.env)); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%v: %v", c.env, err)
		}
	}
	cfg, err := Load(env(map[string]string{"CHROME_PATH": "/bin/true", "METRICS_EXPORTER": "gcp", "AUTH_SECRET_PROJECT": "p",
		"TRACE_SAMPLE_RATIO": "0.5"}))
	if err != nil || cfg.AuditProject != "p" || cfg.TraceSampleRatio != 0.5 || cfg.MetricsInterval != time.Minute {
		t.Errorf("%+v %v", cfg, err)
	}
}

func TestUpstreamProxy(t *testing.T) {
	password := "pw-upstream-3141"
	c, err := Load(env(map[string]string{"CHROME_PATH": "/bin/true", "UPSTREAM_PROXY": "socks5://op:" + password + "@proxy.internal:1080",
		"PROXY_CHAINING": "true"}))
	if err != nil || c.UpstreamProxy == nil || c.UpstreamProxy.String() != "socks5://proxy.internal:1080" || !c.ProxyChaining {
		t.Fatalf("%+v %v", c, err)
	}
	// A bad value names the variable and never repeats itself: it may hold a password.
	_, err = Load(env(map[string]string{"CHROME_PATH": "/bin/true", "UPSTREAM_PROXY": "ftp://op:" + password + "@proxy.internal"}))
	if err == nil || !strings.Contains(err.Error(), "UPSTREAM_PROXY") || strings.Contains(err.Error(), password) {
		t.Errorf("%v", err)
	}
}
