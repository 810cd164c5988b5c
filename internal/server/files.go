package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// FileLinks opens the local store's download links (nil with a bucket).
type FileLinks interface {
	OpenLink(ctx context.Context, client, id string, q url.Values) (store.Blob, []byte, error)
}

// getFile serves GET /files/{client}/{id}: the link is the credential.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	b, data, err := s.Files.OpenLink(r.Context(), r.PathValue("client"), r.PathValue("id"), r.URL.Query())
	if err != nil {
		apierror.Write(w, answer(err))
		return
	}
	w.Header().Set("Content-Type", b.ContentType)
	w.Header().Set("Content-Disposition", "attachment; filename="+store.DownloadName(b))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data) //nolint:errcheck // the client may be gone
}
