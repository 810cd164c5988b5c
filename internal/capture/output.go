package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpio "github.com/chromedp/cdproto/io"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// Device-pixel height limits of the image formats: WebP cannot be taller than
// 16383 px, JPEG than 65535. PNG has no such limit, but an image this tall is
// already hundreds of megabytes of pixels, so it shares JPEG's bound.
const (
	maxWebPPixels  = 16383
	maxOtherPixels = 65535
)

// Limits bound what one capture may produce, whatever the page does.
type Limits struct {
	MaxPixels      int64 // width × height × density² of an image (MAX_PIXELS)
	MaxOutputBytes int64 // bytes of any output (MAX_OUTPUT_BYTES)
}

func output(ctx context.Context, o *options.Options, lim Limits, pngForSpeed bool) ([]byte, error) {
	var b []byte
	var err error
	switch o.Format {
	case "html":
		b, err = serializeHTML(ctx, lim.MaxOutputBytes)
	case "pdf":
		b, err = printPDF(ctx, o, lim.MaxOutputBytes)
	default:
		b, err = screenshot(ctx, o, lim, pngForSpeed)
	}
	if err == nil && lim.MaxOutputBytes > 0 && int64(len(b)) > lim.MaxOutputBytes {
		return nil, tooLarge(lim.MaxOutputBytes)
	}
	return b, err
}

func tooLarge(max int64) error {
	return fail(TooLarge, "the capture is larger than "+strconv.FormatInt(max, 10)+" bytes (MAX_OUTPUT_BYTES)")
}

// htmlJS serializes the live DOM, doctype included: what scripts built, not
// what the server sent. It runs in the isolated world and measures first, so
// a page that grew to gigabytes is refused without sending them over CDP
// (a UTF-16 length is at most the UTF-8 length, so the check never refuses
// a document that fits).
const htmlJS = `(max) => {
	const s = (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML;
	return (max > 0 && s.length > max) ? null : s;
}`

func serializeHTML(ctx context.Context, max int64) ([]byte, error) {
	s, err := callJS[*string](ctx, htmlJS, max)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, tooLarge(max)
	}
	return []byte(*s), nil
}

var paper = map[string][2]float64{ // inches, portrait
	"A4":     {8.27, 11.69},
	"Letter": {8.5, 11},
	"Legal":  {8.5, 14},
}

func printPDF(ctx context.Context, o *options.Options, max int64) ([]byte, error) {
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
	var p page.PrintToPDFParams
	for _, opt := range opts {
		opt(&p)
	}
	if o.PDF.HeaderHTML != "" || o.PDF.FooterHTML != "" {
		// An empty template is Chrome's default (title, date, URL): a side
		// the client left out stays empty instead.
		p.DisplayHeaderFooter = new(true)
		p.HeaderTemplate, p.FooterTemplate = orEmpty(o.PDF.HeaderHTML), orEmpty(o.PDF.FooterHTML)
	}
	if m := o.PDF.Margin; m != nil {
		p.MarginTop, p.MarginRight, p.MarginBottom, p.MarginLeft = new(m.Top), new(m.Right), new(m.Bottom), new(m.Left)
	}
	p.PreferCSSPageSize = new(o.PDF.PreferCSSPageSize)
	p.GenerateTaggedPDF = new(o.PDF.Tagged)
	p.GenerateDocumentOutline = new(o.PDF.Outline)
	res, err := chromedp.Call(ctx, page.PrintToPDF, p)
	if err != nil && o.PDF.PageRanges != "" && strings.Contains(strings.ToLower(err.Error()), "page range") {
		return nil, invalid("pdf_page_ranges", "selects no page of the document")
	}
	if err != nil {
		return nil, err
	}
	b, err := readStream(ctx, res.Stream, max)
	if err != nil {
		return nil, err
	}
	// Counted by a PDF parser before a byte is sent: a document over the
	// client's (or the default) page limit is refused, not truncated.
	n, err := api.PageCount(bytes.NewReader(b), pdfConfig())
	if err != nil {
		return nil, fmt.Errorf("reading back the PDF: %w", err)
	}
	if n > o.PDF.MaxPages {
		return nil, invalid("pdf_max_pages", fmt.Sprintf("is %d, and the document has %d pages", o.PDF.MaxPages, n))
	}
	return b, nil
}

// pdfConfig is pdfcpu's configuration without its config directory (the
// library would otherwise write one under the user's config dir, on Cloud
// Run memory, on first use); a fresh one per document, since pdfcpu writes
// into it as it reads.
func pdfConfig() *model.Configuration {
	disableConfigDir.Do(api.DisableConfigDir)
	return model.NewDefaultConfiguration()
}

var disableConfigDir sync.Once

// orEmpty is a template that prints nothing, for a side left unset.
func orEmpty(t string) string {
	if t == "" {
		return "<span></span>"
	}
	return t
}

// readStream reads a browser stream of at most max bytes, and closes it
// (the browser keeps it until then).
func readStream(ctx context.Context, h cdpio.StreamHandle, max int64) ([]byte, error) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = chromedp.Call(cctx, cdpio.Close, cdpio.CloseParams{Handle: h})
	}()
	var buf bytes.Buffer
	for {
		res, err := chromedp.Call(ctx, cdpio.Read, cdpio.ReadParams{Handle: h})
		if err != nil {
			return nil, err
		}
		buf.Write(res.Data) // decoded from base64 already
		if max > 0 && int64(buf.Len()) > max {
			return nil, tooLarge(max)
		}
		if res.EOF {
			return buf.Bytes(), nil
		}
	}
}

// rectJS returns the document-relative box of the first match of sel, or
// "invalid" for a selector the browser cannot parse. It runs in the isolated
// world, where the page's overrides do not reach; the box is still clamped
// to the document's size as the browser lays it out.
const rectJS = `(sel) => {
	let el;
	try { el = document.querySelector(sel); } catch (e) { return "invalid"; }
	if (!el) return null;
	const r = el.getBoundingClientRect();
	return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];
}`

func screenshot(ctx context.Context, o *options.Options, lim Limits, pngForSpeed bool) ([]byte, error) {
	p := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormat(o.Format)}
	switch {
	case o.Format != "png":
		p.Quality = new(int64(o.ImageQuality))
	case pngForSpeed:
		// The operator's choice (PNG_ENCODING=speed): the same pixels in a
		// file 11-67% larger, for up to a quarter less of Chrome's CPU on
		// a tall page (docs/performance.md#encoding-on-a-tall-page).
		p.OptimizeForSpeed = new(true)
	}
	if o.Selector != "" || o.FullPage || o.Page.Clip != nil {
		// The document's size comes from the browser's layout, not from
		// page script.
		m, err := chromedp.Call(ctx, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		doc := page.Viewport{Width: math.Max(m.CSSContentSize.Width, float64(o.WindowWidth)),
			Height: math.Max(m.CSSContentSize.Height, float64(o.WindowHeight))}
		clip := doc
		if o.Selector != "" {
			raw, err := callJS[json.RawMessage](ctx, rectJS, o.Selector)
			if err != nil {
				return nil, err
			}
			var box *[4]float64
			if string(raw) == `"invalid"` {
				return nil, invalid("selector", "is not a valid CSS selector")
			}
			if json.Unmarshal(raw, &box) != nil || box == nil {
				return nil, invalid("selector", "matched no element with a size")
			}
			clip = page.Viewport{X: box[0], Y: box[1], Width: box[2], Height: box[3]}
		}
		if c := o.Page.Clip; c != nil {
			clip = page.Viewport{X: c.X, Y: c.Y, Width: c.Width, Height: c.Height}
		}
		clip = clamp(clip, doc, o, lim.MaxPixels)
		switch {
		case (clip.Width < 1 || clip.Height < 1) && o.Page.Clip != nil:
			return nil, invalid("clip", "lies outside the page")
		case clip.Width < 1 || clip.Height < 1:
			return nil, invalid("selector", "matched no element with a size")
		}
		clip.Scale = 1
		p.Clip = &clip
		p.CaptureBeyondViewport = new(true)
	}
	b, err := chromedp.Call(ctx, page.CaptureScreenshot, p)
	if err == nil && p.OptimizeForSpeed != nil && lim.MaxOutputBytes > 0 && int64(len(b.Data)) > lim.MaxOutputBytes {
		// Too large as encoded for speed: the smaller encoding may fit,
		// and a capture the instance can make is never refused for it.
		p.OptimizeForSpeed = nil
		b, err = chromedp.Call(ctx, page.CaptureScreenshot, p)
	}
	if err != nil {
		return nil, err
	}
	if len(b.Data) == 0 {
		return nil, fail(Internal, "the browser returned an empty image")
	}
	return b.Data, nil
}

// clamp keeps a clip inside the document, within maxDimension CSS pixels of
// width, the format's height limit, and the pixel budget: a page (or a page
// lying about an element) can make itself huge, but never the image.
func clamp(c, doc page.Viewport, o *options.Options, maxPixels int64) page.Viewport {
	c.X = math.Min(math.Max(c.X, 0), doc.Width)
	c.Y = math.Min(math.Max(c.Y, 0), doc.Height)
	c.Width = math.Min(math.Max(c.Width, 0), doc.Width-c.X)
	c.Height = math.Min(math.Max(c.Height, 0), doc.Height-c.Y)
	c.Width = math.Min(c.Width, options.MaxDimension)
	c.Height = math.Min(c.Height, maxHeight(o))
	if d2 := o.PixelDensity * o.PixelDensity; maxPixels > 0 && c.Width*c.Height*d2 > float64(maxPixels) {
		c.Height = math.Floor(float64(maxPixels) / (c.Width * d2))
	}
	return c
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
