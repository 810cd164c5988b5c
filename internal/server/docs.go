package server

import (
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"sync"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/openapi"
	"github.com/pixashot/pixashot-cloudrun/internal/playground"
)

// openAPI serves the document of this deployment's limits, built once.
func (s *Server) openAPI() http.HandlerFunc {
	// At the first request, not at start: building it is some 35-50 ms of
	// CPU on the way to the instance's first capture.
	build := sync.OnceValue(func() []byte { return openapi.Document(s.Limits) })
	return func(w http.ResponseWriter, _ *http.Request) {
		doc := build()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		w.Write(doc) //nolint:errcheck // the client may be gone
	}
}

var playgroundTypes = map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8"}

// playground serves the page and its two files, under the page's own CSP.
func (s *Server) playground(w http.ResponseWriter, r *http.Request) {
	name := "index.html"
	if f := r.PathValue("file"); f != "" {
		name = f
	}
	data, err := fs.ReadFile(playground.Files, name)
	if err != nil || name != path.Base(name) {
		apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such endpoint"))
		return
	}
	w.Header().Set("Content-Security-Policy", playground.CSP)
	w.Header().Set("Content-Type", playgroundTypes[path.Ext(name)])
	w.Write(data) //nolint:errcheck // the client may be gone
}
