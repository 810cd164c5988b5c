package app

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
)

// A start that fails late (here: no browser) stops what it had started: the
// Secret Manager client, the key reloads, the guard's sessions.
func TestFailedStartLeavesNothingRunning(t *testing.T) {
	fake := fakesm.StartT(t)
	cfg, err := config.Load(func(k string) string {
		switch k {
		case "AUTH_SECRET_PROJECT":
			return "proj"
		case "SECRET_MANAGER_ENDPOINT":
			return fake.Addr
		case "CHROME_PATH":
			return "/bin/false" // starts and exits: the browser never answers
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.AuditProject = ""
	before := runtime.NumGoroutine()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		a, err := New(ctx, cfg, Options{Logger: log})
		cancel()
		if err == nil || a != nil {
			t.Fatal("started without a browser")
		}
	}
	// Goroutines wind down shortly after Close; three leaked starts would
	// leave dozens (a gRPC client and a reload loop each).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+4 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after three failed starts:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
