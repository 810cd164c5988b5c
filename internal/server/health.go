package server

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client may be gone
}

// health is the original's summary. Anyone (the load balancer's public
// side included) gets the status, the time and the version; the load, the
// memory and the queue, which tell an attacker how close the instance is to
// falling over, only a caller with a valid token.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ready := s.isReady(r.Context())
	status, code := "healthy", http.StatusOK
	if !ready {
		status, code = "starting", http.StatusServiceUnavailable
	}
	out := map[string]any{"status": status, "timestamp": time.Now().UTC().Format(time.RFC3339), "version": version()}
	if tok, err := auth.Bearer(r); err == nil {
		if _, err := s.Auth.Authenticate(tok); err == nil {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			out["checks"] = map[string]any{
				"browser":  ready,
				"captures": map[string]int{"running": s.Gate.InUse(), "queued": s.Gate.Waiting()},
				"memory":   map[string]uint64{"heap_bytes": m.HeapAlloc, "sys_bytes": m.Sys},
				"cpu":      map[string]int{"count": runtime.NumCPU(), "goroutines": runtime.NumGoroutine()},
				// The original's names, which its health scripts read.
				"memory_usage_mb": m.Sys >> 20,
				"cpu_percent":     cpuPercent(),
			}
		}
	}
	writeJSON(w, code, out)
}

// version is the build's VCS revision (or module version), read once.
var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	if v := bi.Main.Version; v != "" {
		return v
	}
	return "unknown"
})

// live answers while the process serves at all and its browser has not
// stayed unusable past its bound (Live): then only a new instance helps,
// and the platform's liveness probe makes one.
func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
	if s.Live != nil && !s.Live() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "browser unusable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// ready is 503 until the browser answers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if !s.isReady(r.Context()) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) isReady(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.Ready(ctx)
}

var started = time.Now()

// cpuPercent is the service process's average CPU use since it started, in
// percent of the machine (what the original's psutil figure approximates).
func cpuPercent() float64 {
	st, ok := procstat.Read(os.Getpid())
	up := time.Since(started).Seconds()
	if !ok || up <= 0 {
		return 0
	}
	return math.Round(st.CPU/10/up/float64(runtime.NumCPU())*10) / 10
}
