// Package playground is the page at GET /: a form generated from the
// service's OpenAPI document that captures a page and shows the result and
// the equivalent curl line. Static files only, no third-party assets.
package playground

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files are the page (index.html) and its script and style.
var Files, _ = fs.Sub(static, "static")

// CSP is the page's own policy: its script and style from this origin, the
// captures it fetches shown from blob: URLs, requests only to this origin.
// Every other route keeps the service's policy.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; frame-src blob:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
