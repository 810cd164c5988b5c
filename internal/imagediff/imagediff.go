// Package imagediff compares two captures as pixelmatch does (YIQ colour
// distance under a threshold, anti-aliased pixels not counted), through
// orisano/pixelmatch, its Go port, and draws the diff image: changed pixels
// in red over a faded copy of the capture.
package imagediff

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	_ "image/jpeg" // captures in jpeg
	"image/png"

	"github.com/orisano/pixelmatch"
	_ "golang.org/x/image/webp" // captures in webp
)

// Result is what a comparison found. Ratio is of the common area.
type Result struct {
	MismatchPixels int     `json:"mismatch_pixels"`
	MismatchRatio  float64 `json:"mismatch_ratio"`
	Threshold      float64 `json:"threshold"`
	SizeChanged    bool    `json:"size_changed"`
	ID             string  `json:"id,omitempty"`  // the stored diff image: GET /captures/{id} links it again
	URL            string  `json:"url,omitempty"` // its download URL
}

// DefaultThreshold is pixelmatch's own.
const DefaultThreshold = 0.1

// ErrNotImage is an input that does not decode as PNG, JPEG or WebP;
// ErrTooLarge one over the pixel budget (checked before it is decoded).
var (
	ErrNotImage = errors.New("imagediff: not a PNG, JPEG or WebP image")
	ErrTooLarge = errors.New("imagediff: the image is over the pixel budget")
)

// Decode reads an image within maxPixels, which it checks from the header
// before it allocates the pixels.
func Decode(b []byte, maxPixels int64) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, ErrNotImage
	}
	if maxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, ErrTooLarge
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, ErrNotImage
	}
	return img, nil
}

// Compare compares capture against base on their common area (a size
// change says so) and returns the diff image as PNG. It stops waiting when
// ctx ends; the comparison itself is bounded by the images' size.
func Compare(ctx context.Context, base, capture image.Image, threshold float64) (Result, []byte, error) {
	type answer struct {
		r   Result
		png []byte
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		r, b, err := compare(base, capture, threshold)
		ch <- answer{r, b, err}
	}()
	select {
	case a := <-ch:
		return a.r, a.png, a.err
	case <-ctx.Done():
		return Result{}, nil, ctx.Err()
	}
}

func compare(base, capture image.Image, threshold float64) (Result, []byte, error) {
	bb, cb := base.Bounds(), capture.Bounds()
	w, h := min(bb.Dx(), cb.Dx()), min(bb.Dy(), cb.Dy())
	r := Result{Threshold: threshold, SizeChanged: bb.Size() != cb.Size()}
	if w == 0 || h == 0 {
		return r, nil, ErrNotImage
	}
	a, b := crop(base, w, h), crop(capture, w, h)
	var out image.Image
	n, err := pixelmatch.MatchPixel(a, b, pixelmatch.Threshold(threshold), pixelmatch.WriteTo(&out))
	if err != nil {
		return r, nil, err
	}
	r.MismatchPixels = n
	r.MismatchRatio = float64(n) / float64(w*h)
	if out == nil {
		out = faded(a) // identical: the port's fast path draws none
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, out); err != nil {
		return r, nil, err
	}
	return r, buf.Bytes(), nil
}

// faded is pixelmatch's background of a diff: the image's luminance,
// blended 10% over white.
func faded(img *image.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	for i := 0; i+3 < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4 : i+4]
		y := float64(p[0])*0.29889531 + float64(p[1])*0.58662247 + float64(p[2])*0.11448223
		v := uint8(255 + (y-255)*0.1*float64(p[3])/255)
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = v, v, v, 255
	}
	return out
}

// crop is img's top left w×h as RGBA at the origin, the form pixelmatch
// compares fastest and needs both sides in.
func crop(img image.Image, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}
