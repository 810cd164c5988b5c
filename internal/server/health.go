package server

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck // the client may be gone
}

// health is the original's summary: status, memory, and the capture load.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	ready := s.isReady(r.Context())
	status, code := "healthy", http.StatusOK
	if !ready {
		status, code = "starting", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{
		"status":   status,
		"browser":  ready,
		"captures": map[string]int{"running": s.Gate.InUse(), "queued": s.Gate.Waiting()},
		"memory":   map[string]uint64{"heap_bytes": m.HeapAlloc, "sys_bytes": m.Sys},
		"cpu":      map[string]int{"count": runtime.NumCPU(), "goroutines": runtime.NumGoroutine()},
	})
}

// live answers while the process serves at all.
func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
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
