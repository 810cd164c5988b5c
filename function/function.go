// Package function is the Cloud Run function: it registers the HTTP function
// Capture with the Functions Framework and builds the instance behind it.
package function

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/app"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/logging"
)

func init() {
	functions.HTTP("Capture", Capture)
}

var (
	mu        sync.Mutex
	instance  *app.App
	startErr  error
	lastTry   time.Time
	nextDelay = time.Second
)

// Start builds the instance and starts its browser. The entry point calls it
// before serving, so the browser is up before the first request; Capture
// calls it too, for a host that serves the function without the entry point.
// A failed start is tried again, no sooner than a backoff (1 s doubling to
// 30 s) after the last try: a cold start that failed once (Chrome slow, a
// transient error) is not 503 for the life of the instance.
func Start(ctx context.Context) (*app.App, error) {
	mu.Lock()
	defer mu.Unlock()
	if instance != nil {
		return instance, nil
	}
	if startErr != nil && time.Since(lastTry) < nextDelay {
		return nil, startErr
	}
	if startErr != nil {
		nextDelay = min(2*nextDelay, 30*time.Second)
	}
	lastTry = time.Now()
	log := logging.New(os.Stdout, slog.LevelInfo)
	slog.SetDefault(log)
	cfg, err := config.Load(os.Getenv)
	if err == nil {
		instance, err = app.New(ctx, cfg, app.Options{Logger: log})
	}
	startErr = err
	return instance, err
}

// Capture is the HTTP function: every route of the service.
func Capture(w http.ResponseWriter, r *http.Request) {
	a, err := Start(r.Context())
	if err != nil {
		slog.Error("instance cannot start", "error", err)
		apierror.Write(w, apierror.New(http.StatusServiceUnavailable, apierror.Overloaded, "the service is not configured"))
		return
	}
	a.Handler().ServeHTTP(w, r)
}
