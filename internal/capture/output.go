package capture

import (
	"context"
	"math"
	"net/http"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// Device-pixel height limits of the image formats: WebP cannot be taller than
// 16383 px, JPEG than 65535. PNG has no such limit, but an image this tall is
// already hundreds of megabytes of pixels, so it shares JPEG's bound.
const (
	maxWebPPixels  = 16383
	maxOtherPixels = 65535
)

func output(ctx context.Context, o *options.Options) ([]byte, error) {
	switch o.Format {
	case "html":
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](htmlJS))
		return []byte(s), err
	case "pdf":
		return printPDF(ctx, o)
	}
	return screenshot(ctx, o)
}

// htmlJS serializes the live DOM, doctype included: what scripts built, not
// what the server sent.
const htmlJS = `(document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML`

var paper = map[string][2]float64{ // inches, portrait
	"A4":     {8.27, 11.69},
	"Letter": {8.5, 11},
	"Legal":  {8.5, 14},
}

func printPDF(ctx context.Context, o *options.Options) ([]byte, error) {
	size := paper[o.PDF.Format]
	if o.PDF.Width > 0 {
		size[0] = o.PDF.Width
	}
	if o.PDF.Height > 0 {
		size[1] = o.PDF.Height
	}
	opts := []chromedp.PDFOption{
		chromedp.PDFPaper(chromedp.PaperSize{Width: size[0], Height: size[1]}),
		chromedp.PDFScale(o.PDF.Scale),
		chromedp.PDFStream(), // large documents do not fit one CDP message
	}
	if o.PDF.PrintBackground {
		opts = append(opts, chromedp.PDFPrintBackground())
	}
	if o.PDF.Landscape {
		opts = append(opts, chromedp.PDFLandscape())
	}
	if o.PDF.PageRanges != "" {
		opts = append(opts, chromedp.PDFPageRanges(o.PDF.PageRanges))
	}
	b, err := chromedp.Run(ctx, chromedp.PrintToPDF(opts...))
	if err != nil && o.PDF.PageRanges != "" && strings.Contains(strings.ToLower(err.Error()), "page range") {
		return nil, apierror.Invalid("pdf_page_ranges", "selects no page of the document")
	}
	return b, err
}

// rectJS returns the document-relative box of the first match of sel.
const rectJS = `(sel) => {
	const el = document.querySelector(sel);
	if (!el) return null;
	const r = el.getBoundingClientRect();
	return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
}`

func screenshot(ctx context.Context, o *options.Options) ([]byte, error) {
	p := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormat(o.Format)}
	if o.Format != "png" {
		p.Quality = new(int64(o.ImageQuality))
	}
	switch {
	case o.Selector != "":
		box, err := callJS[*[4]float64](ctx, rectJS, o.Selector)
		if err != nil {
			return nil, err
		}
		if box == nil || box[2] < 1 || box[3] < 1 {
			return nil, apierror.Invalid("selector", "matched no element with a size")
		}
		p.Clip = &page.Viewport{X: box[0], Y: box[1], Width: box[2], Height: box[3], Scale: 1}
		p.CaptureBeyondViewport = new(true)
	case o.FullPage:
		m, err := chromedp.Call(ctx, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		w := math.Max(m.CSSContentSize.Width, float64(o.WindowWidth))
		h := math.Max(m.CSSContentSize.Height, float64(o.WindowHeight))
		p.Clip = &page.Viewport{X: 0, Y: 0, Width: w, Height: math.Min(h, maxHeight(o)), Scale: 1}
		p.CaptureBeyondViewport = new(true)
	}
	b, err := chromedp.Call(ctx, page.CaptureScreenshot, p)
	if err != nil {
		return nil, err
	}
	if len(b.Data) == 0 {
		return nil, apierror.New(http.StatusInternalServerError, apierror.Internal, "the browser returned an empty image")
	}
	return b.Data, nil
}

// maxHeight is the tallest full page, in CSS pixels, the format can hold at
// the requested density; taller pages are cut there.
func maxHeight(o *options.Options) float64 {
	limit := float64(maxOtherPixels)
	if o.Format == "webp" {
		limit = maxWebPPixels
	}
	return math.Floor(limit / o.PixelDensity)
}
