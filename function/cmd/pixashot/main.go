// Command pixashot serves the Capture function on $PORT; its subcommands
// are the key administration (keys) and the API client (capture, sign).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/pixashot/pixashot-cloudrun/function"
	"github.com/pixashot/pixashot-cloudrun/internal/cli"
	"github.com/pixashot/pixashot-cloudrun/internal/keyadmin"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "keys":
			os.Exit(keyadmin.Main(context.Background(), os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "capture", "sign", "diff", "monitor":
			os.Exit(cli.Main(context.Background(), os.Args[1], os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
		}
	}
	// Serve Capture at "/" so it routes every path; without a target the
	// framework would mount each function under its own name.
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", "Capture")
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	// The rotation function (FUNCTION_TARGET=RotateKey) has no browser and
	// takes CloudEvents, which the framework decodes.
	if os.Getenv("FUNCTION_TARGET") != "Capture" {
		if err := funcframework.Start(port); err != nil {
			fmt.Fprintln(os.Stderr, "pixashot:", err)
			os.Exit(1)
		}
		return
	}
	if err := serve(port); err != nil {
		fmt.Fprintln(os.Stderr, "pixashot:", err)
		os.Exit(1)
	}
}

// serve warms the browser, then serves Capture until SIGTERM or SIGINT. The
// framework's own server is a bare ListenAndServe (no header timeout, no
// drain), so the capture function is served here with the same handler.
func serve(port string) error {
	a, err := function.Start(context.Background())
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:    ":" + port,
		Handler: http.HandlerFunc(function.Capture),
		// A client that trickles its headers holds a connection, not a slot.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	select {
	case err := <-served:
		a.Close()
		return err
	case s := <-sig:
		grace := a.ShutdownGrace()
		slog.Info("shutting down: readiness fails, captures in flight finish", "event", "shutdown",
			"signal", s.String(), "grace", grace.String())
		// Cloud Run sends SIGKILL 10 s after SIGTERM: in-flight captures get
		// the grace, then whatever is left is cut so Chrome and its profile
		// directory are gone before the kill.
		a.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		err := srv.Shutdown(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			slog.Warn("shutdown grace ran out; closing the remaining connections", "event", "shutdown_forced")
			srv.Close()
		}
		a.Close()
		slog.Info("shut down", "event", "shutdown_done")
		return nil
	}
}
