// Command gen writes the OpenAPI document of a deployment on the default
// configuration: docs/openapi.json, which `go generate ./internal/openapi`
// refreshes and a test compares with the live document.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pixashot/pixashot-cloudrun/internal/openapi"
)

func main() {
	out := flag.String("o", "docs/openapi.json", "where to write the document")
	flag.Parse()
	lim, err := openapi.DefaultLimits()
	if err == nil {
		err = os.WriteFile(*out, openapi.Document(lim), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
