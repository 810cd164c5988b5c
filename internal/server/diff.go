package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// compare diffs a capture against its baseline (an earlier capture of the
// same client, or an image given inline) in Go, off the browser, within the
// capture's own deadline, and stores the diff image. Past
// fail_on_diff_ratio it is a 409 DiffExceeded carrying the figures.
func (s *Server) compare(ctx context.Context, client string, o *options.Options, data []byte) (*imagediff.Result, error) {
	d := o.Diff
	base, field := d.Baseline, "baseline"
	if d.CompareTo != "" {
		field = "compare_to"
		b, err := s.Store.Load(ctx, client, d.CompareTo)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, apierror.Invalid(field, "names no stored capture of yours")
		case err != nil:
			return nil, errStorage{err}
		}
		base = b
	}
	baseImg, err := imagediff.Decode(base, s.Limits.MaxPixels)
	switch {
	case errors.Is(err, imagediff.ErrTooLarge):
		return nil, apierror.Invalid(field, "has more pixels than MAX_PIXELS")
	case err != nil:
		return nil, apierror.Invalid(field, "is not a PNG, JPEG or WebP image")
	}
	img, err := imagediff.Decode(data, 0)
	if err != nil {
		return nil, err // the browser's own image: the service's fault
	}
	r, diffPNG, err := imagediff.Compare(ctx, baseImg, img, d.Threshold)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &capture.Error{Kind: capture.Timeout, Message: "the diff did not finish within the capture's time", Cause: err}
		}
		return nil, err
	}
	r.ID = newID()
	link, err := s.Store.Save(ctx, store.Object{ID: r.ID, Client: client, Format: "png", ContentType: "image/png"}, "", diffPNG)
	if err != nil {
		return nil, errStorage{err}
	}
	r.URL = link.URL
	if f := d.FailRatio; f != nil && r.MismatchRatio > *f {
		return &r, &apierror.Error{Status: http.StatusConflict, Type: apierror.DiffExceeded, Diff: &r,
			Message: "the capture differs from its baseline in " + strconv.FormatFloat(r.MismatchRatio, 'f', -1, 64) +
				" of its pixels, above fail_on_diff_ratio " + strconv.FormatFloat(*f, 'f', -1, 64)}
	}
	return &r, nil
}
