package capture

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	brw "github.com/pixashot/pixashot-cloudrun/internal/browser"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
)

// TestNextTabIsOpenedAfterTheResponse: the capture that takes the warm tab
// renders without a tab being opened beside it; the next tab is opened once
// the capture's tab is released, and is ready for the next request.
func TestNextTabIsOpenedAfterTheResponse(t *testing.T) {
	chrome := config.FindChrome(os.Getenv)
	if chrome == "" {
		t.Fatal("no Chromium: apt-get install chromium-headless-shell, or set CHROME_PATH")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	guard := egress.New(egress.Config{Logger: log})
	def, err := guard.Open("default-context")
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	m := brw.New(brw.Config{ExecPath: chrome, ProxyURL: def.ProxyURL(), NoSandbox: os.Geteuid() == 0, Logger: log})
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Browsers: m, Guard: guard}
	defer e.StartWarm(1)()
	ready := func() bool { return len(e.warm) == 1 }
	poll.Until(t, "the first warm tab", ready)

	// html_content needs no network; the delay keeps the capture rendering
	// for longer than opening a tab takes.
	o, err := options.ParseJSON([]byte(`{"html_content":"<h1>hi</h1>","delay_capture":1500}`), options.Limits{MaxTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan func())
	go func() {
		res, release, err := e.Capture(ctx, "test", o)
		if err != nil {
			t.Errorf("capture: %v", err)
		} else if len(res.Data) == 0 {
			t.Error("capture: no image")
		}
		done <- release
	}()
	poll.Until(t, "the capture to take the warm tab", func() bool { return len(e.warm) == 0 })
	release := <-done
	if ready() {
		t.Fatal("a tab was opened while the capture rendered")
	}
	release()
	poll.Until(t, "the next warm tab after the release", ready)
}
