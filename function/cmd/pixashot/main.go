// Command pixashot serves the Capture function on $PORT.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/pixashot/pixashot-cloudrun/function"
	"github.com/pixashot/pixashot-cloudrun/internal/keyadmin"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "keys" {
		os.Exit(keyadmin.Main(context.Background(), os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
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
	// The capture function warms its browser before serving; the rotation
	// function (FUNCTION_TARGET=RotateKey) has no browser at all.
	if os.Getenv("FUNCTION_TARGET") == "Capture" {
		if _, err := function.Start(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "pixashot:", err)
			os.Exit(1)
		}
	}
	if err := funcframework.Start(port); err != nil {
		fmt.Fprintln(os.Stderr, "pixashot:", err)
		os.Exit(1)
	}
}
