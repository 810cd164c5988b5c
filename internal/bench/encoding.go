package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"log"
	"math"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
)

// The encoding levers of issue 38 on a tall page: one heavy page, loaded
// once in a new context and tab of plain chromedp, then captured full page
// again and again in each way, in turns. What differs is only how the
// pixels become a file: the format and quality, PNG's optimizeForSpeed,
// and one surface (captureBeyondViewport over the whole document, as the
// service does) against tiles of the same document stitched in Go.

type encodeWay struct {
	name    string
	format  page.CaptureScreenshotFormat
	quality int64 // JPEG and WebP
	fast    bool  // PNG optimizeForSpeed
	tiles   int   // > 1: that many clips, stitched into one PNG in Go
}

var encodeWays = []encodeWay{
	{name: "PNG, one surface (the service)", format: page.CaptureScreenshotFormatPng},
	{name: "PNG optimizeForSpeed", format: page.CaptureScreenshotFormatPng, fast: true},
	{name: "PNG, 4 tiles stitched in Go", format: page.CaptureScreenshotFormatPng, tiles: 4},
	{name: "JPEG q=60", format: page.CaptureScreenshotFormatJpeg, quality: 60},
	{name: "JPEG q=80 (the default)", format: page.CaptureScreenshotFormatJpeg, quality: 80},
	{name: "JPEG q=90", format: page.CaptureScreenshotFormatJpeg, quality: 90},
	{name: "JPEG q=100", format: page.CaptureScreenshotFormatJpeg, quality: 100},
	{name: "WebP q=60", format: page.CaptureScreenshotFormatWebp, quality: 60},
	{name: "WebP q=80 (the default)", format: page.CaptureScreenshotFormatWebp, quality: 80},
	{name: "WebP q=90", format: page.CaptureScreenshotFormatWebp, quality: 90},
	{name: "WebP q=100", format: page.CaptureScreenshotFormatWebp, quality: 100},
}

type encodeRow struct {
	encodeWay
	times       []time.Duration
	chrome, goT float64 // CPU ms, summed over the runs
	bytes       int
	shot        []byte
	peak        int64 // PSS of the Chrome above its level before the capture
}

// benchEncoding measures runs rounds of every way on url.
func benchEncoding(chrome, url string, runs int) {
	log.Printf("encoding: %d full-page captures of one heavy page in each way, in turns...", runs)
	browser, pid, stop := launchChrome(chrome)
	defer stop()
	ctx, cancel := newContextTab(browser, nil)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		log.Fatalf("encoding: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		log.Fatalf("encoding: %v", err)
	}
	m, err := chromedp.Call(ctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		log.Fatalf("encoding: %v", err)
	}
	doc := page.Viewport{Width: 1920, Height: math.Ceil(m.CSSContentSize.Height), Scale: 1}
	rows := make([]*encodeRow, len(encodeWays))
	for i, w := range encodeWays {
		rows[i] = &encodeRow{encodeWay: w}
	}
	// A first full capture brings in what the page loads lazily; then the
	// page is left to settle, so that every way captures the same pixels.
	if _, err := rows[0].capture(ctx, doc); err != nil {
		log.Fatalf("encoding: %v", err)
	}
	time.Sleep(3 * time.Second)
	for range runs {
		for _, r := range rows {
			c0, g0 := snapCPU(pid), selfCPU()
			t0 := time.Now()
			b, err := r.capture(ctx, doc)
			if err != nil {
				log.Fatalf("encoding (%s): %v", r.name, err)
			}
			r.times = append(r.times, time.Since(t0))
			_, chrome := chromeCPU(c0.per(snapCPU(pid), 1))
			r.chrome += chrome
			r.goT += selfCPU() - g0
			r.bytes, r.shot = len(b), b
		}
	}
	// Memory apart from the timed rounds: sampling walks Chrome's page
	// tables, which would cost the timed captures.
	for _, r := range rows {
		base := pss(pid)
		var peak atomic.Int64
		stopSampling := sample(pid, &peak)
		for range 3 {
			if _, err := r.capture(ctx, doc); err != nil {
				log.Fatalf("encoding (%s): %v", r.name, err)
			}
		}
		stopSampling()
		r.peak = max(0, peak.Load()-base)
	}
	printEncoding(rows, doc, runs)
}

// capture takes the whole document in r's way.
func (r *encodeRow) capture(ctx context.Context, doc page.Viewport) ([]byte, error) {
	if r.tiles <= 1 {
		return shot(ctx, r.encodeWay, &doc)
	}
	out := image.NewRGBA(image.Rect(0, 0, int(doc.Width), int(doc.Height)))
	step := math.Ceil(doc.Height / float64(r.tiles))
	for y := 0.0; y < doc.Height; y += step {
		clip := page.Viewport{X: 0, Y: y, Width: doc.Width, Height: math.Min(step, doc.Height-y), Scale: 1}
		b, err := shot(ctx, r.encodeWay, &clip)
		if err != nil {
			return nil, err
		}
		tile, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		draw.Draw(out, tile.Bounds().Add(image.Pt(0, int(y))), tile, image.Point{}, draw.Src)
	}
	var buf bytes.Buffer
	err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, out)
	return buf.Bytes(), err
}

// shot takes a screenshot in w's way: of clip (beyond the viewport), or
// of the viewport when clip is nil.
func shot(ctx context.Context, w encodeWay, clip *page.Viewport) ([]byte, error) {
	p := page.CaptureScreenshotParams{Format: w.format}
	if clip != nil {
		p.Clip, p.CaptureBeyondViewport = clip, new(true)
	}
	if w.quality > 0 {
		p.Quality = new(w.quality)
	}
	if w.fast {
		p.OptimizeForSpeed = new(true)
	}
	res, err := chromedp.Call(ctx, page.CaptureScreenshot, p)
	return res.Data, err
}

// selfCPU is the benchmark process's own CPU so far, in ms: the base64 the
// captures arrive in, and the tiles' stitching.
func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for SELF
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

func printEncoding(rows []*encodeRow, doc page.Viewport, runs int) {
	fmt.Printf("\n== encoding: one heavy page, full page (%.0fx%.0f), plain chromedp, in turns ==\n", doc.Width, doc.Height)
	fmt.Printf("%-34s %9s %9s %9s %9s %11s %9s %9s\n", "per capture", "median", "Chrome", "Go", "÷ first", "size", "peak PSS", "mismatch")
	base, err := imagediff.Decode(rows[0].shot, 64_000_000)
	if err != nil {
		log.Fatalf("encoding: the baseline's capture: %v", err)
	}
	var first float64
	for i, r := range rows {
		chrome, goT := r.chrome/float64(runs), r.goT/float64(runs)
		if i == 0 {
			first = chrome + goT
		}
		mismatch := "-"
		if img, err := imagediff.Decode(r.shot, 64_000_000); err == nil {
			if d, _, err := imagediff.Compare(context.Background(), base, img, imagediff.DefaultThreshold); err == nil {
				mismatch = fmt.Sprintf("%.4f", d.MismatchRatio)
			}
		}
		fmt.Printf("%-34s %9s %9.0f %9.0f %9.2f %9.0f kB %6.0f MB %9s\n", r.name, ms(median(r.times)), chrome, goT,
			(chrome+goT)/first, float64(r.bytes)/1000, float64(r.peak)/(1<<20), mismatch)
	}
}
