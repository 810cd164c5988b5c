// Command pixashot serves the Capture function on $PORT.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/pixashot/pixashot-cloudrun/function"
)

func main() {
	// Serve Capture at "/" so it routes every path; without a target the
	// framework would mount each function under its own name.
	if os.Getenv("FUNCTION_TARGET") == "" {
		os.Setenv("FUNCTION_TARGET", "Capture")
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if _, err := function.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "pixashot:", err)
		os.Exit(1)
	}
	if err := funcframework.Start(port); err != nil {
		fmt.Fprintln(os.Stderr, "pixashot:", err)
		os.Exit(1)
	}
}
