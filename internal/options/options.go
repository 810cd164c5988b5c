// Package options turns a capture request (a JSON body or query parameters) into
// validated Options, with the names and defaults of the original Pixashot API.
package options

import (
	"encoding/json"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/egress"
)

// Options is one validated capture request.
type Options struct {
	URL         string
	HTMLContent string

	Format         string // png, jpeg, webp, pdf, html
	WindowWidth    int
	WindowHeight   int
	PixelDensity   float64
	FullPage       bool
	Selector       string
	ImageQuality   int
	OmitBackground bool

	WaitForNetwork   string // idle, mostly_idle
	MarkdownMode     string // readability (the main content), full (the whole page)
	WaitForTimeout   time.Duration
	WaitForSelector  string
	WaitForAnimation bool
	DelayCapture     time.Duration

	PDF PDF

	DarkMode          bool
	BlockMedia        bool
	CustomJS          string
	CustomHeaders     map[string]string
	IgnoreHTTPSErrors bool
	// Proxy is the client's own proxy URL, credentials included: it lives
	// in memory for the capture, and in the queue entry of an async job.
	Proxy string

	UserAgent          string
	UseRandomUserAgent bool
	UserAgentDevice    string // desktop, mobile
	UserAgentPlatform  string // windows, macos, ios, linux, android
	UserAgentBrowser   string // chrome, edge, firefox, safari

	Template     string
	Geolocation  *Geolocation
	Interactions []Interaction

	ResponseType string // by_format, json, empty, url
	CacheTTL     time.Duration

	Page Page

	// Diff compares the capture with an earlier one (compare_to) or a
	// given image (baseline); nil when neither is set.
	Diff *Diff

	// Background is the page's default background (background_color), nil
	// for the browser's white.
	Background *Color
	// Ignored names the original's options this request set that have no
	// effect here; the answer lists them in a header.
	Ignored []string
}

// Diff is what the capture is compared with, and how.
type Diff struct {
	CompareTo string   // the id of an earlier stored capture of the same client
	Baseline  []byte   // an image given inline
	Threshold float64  // pixelmatch's colour threshold, 0..1
	FailRatio *float64 // above it the capture is a 409 DiffExceeded
}

// Color is an sRGB colour with alpha in 0..1.
type Color struct {
	R, G, B uint8
	A       float64
}

// PDF holds the print options; they apply only to format pdf.
type PDF struct {
	Format          string  // A4, Letter, Legal
	PrintBackground bool    // default true
	Scale           float64 // default 1
	PageRanges      string
	Width, Height   float64 // inches; 0 means from Format
	Landscape       bool

	HeaderHTML, FooterHTML string // Chrome's templates; no network (data: images only)
	Margin                 *Margin
	PreferCSSPageSize      bool
	Tagged                 bool // default true: accessible PDF
	Outline                bool // a document outline from the headings
	MaxPages               int  // more is a 400; DefaultMaxPages when unset
}

// Margin is the page margin, in inches.
type Margin struct{ Top, Right, Bottom, Left float64 }

// DefaultMaxPages is pdf_max_pages when a request sets none.
const DefaultMaxPages = 500

// Geolocation is what navigator.geolocation reports.
type Geolocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Accuracy  float64 `json:"accuracy"`
}

// Interaction is one scripted step before the capture.
type Interaction struct {
	Action   string // click, type, hover, scroll, wait_for
	Selector string
	Text     string
	X, Y     float64
	WaitFor  *WaitFor
}

// WaitFor is the condition of a wait_for step.
type WaitFor struct {
	Type     string // network_idle, network_mostly_idle, selector, timeout
	Selector string
	Duration time.Duration // network and timeout waits; a selector wait's own limit (0: wait_for_timeout)
}

// Extension is the file name extension of the capture's download.
func (o *Options) Extension() string {
	switch o.Format {
	case "markdown":
		return "md"
	case "text":
		return "txt"
	case "metadata", "links", "json_ld":
		return "json"
	}
	return o.Format
}

// IsImage reports whether the format is a raster image.
func (o *Options) IsImage() bool {
	return o.Format == "png" || o.Format == "jpeg" || o.Format == "webp"
}

// ContentType is the media type of the capture.
func (o *Options) ContentType() string {
	switch o.Format {
	case "jpeg":
		return "image/jpeg"
	case "webp":
		return "image/webp"
	case "pdf":
		return "application/pdf"
	case "html":
		return "text/html" // exactly as the original documents it
	case "metadata", "links", "json_ld":
		return "application/json"
	case "markdown":
		return "text/markdown; charset=utf-8"
	case "text":
		return "text/plain; charset=utf-8"
	}
	return "image/png"
}

// Normalized is the request as the capture sees it: every default filled in,
// and without the fields that only shape the answer. Two requests with the
// same Normalized bytes give the same capture, so it keys the cache.
func (o *Options) Normalized() []byte {
	c := *o
	c.ResponseType, c.CacheTTL, c.Ignored = "", 0, nil
	if p, err := egress.ParseProxy(c.Proxy); err == nil {
		c.Proxy = p.Key() // never the password in clear, even before hashing
	}
	b, _ := json.Marshal(c) // plain data: cannot fail; map keys come out sorted
	return b
}
