package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FieldError is a validation failure of one field; the client sees both parts.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits are the bounds that depend on the deployment.
type Limits struct {
	MaxTimeout time.Duration // CAPTURE_TIMEOUT: no wait may exceed it
	MaxPixels  int64         // MAX_PIXELS: the viewport's width × height × density²
}

// raw mirrors the wire format. Pointers tell "unset" from a zero value, which
// templates need: a preset fills only what the request left unset.
type raw struct {
	URL                *string           `json:"url"`
	HTMLContent        *string           `json:"html_content"`
	Format             *string           `json:"format"`
	WindowWidth        *int              `json:"window_width"`
	WindowHeight       *int              `json:"window_height"`
	PixelDensity       *float64          `json:"pixel_density"`
	FullPage           *bool             `json:"full_page"`
	Selector           *string           `json:"selector"`
	ImageQuality       *int              `json:"image_quality"`
	OmitBackground     *bool             `json:"omit_background"`
	WaitForNetwork     *string           `json:"wait_for_network"`
	MarkdownMode       *string           `json:"markdown_mode"`
	WaitForTimeout     *int              `json:"wait_for_timeout"`
	WaitForSelector    *string           `json:"wait_for_selector"`
	WaitForAnimation   *bool             `json:"wait_for_animation"`
	DelayCapture       *int              `json:"delay_capture"`
	PDFFormat          *string           `json:"pdf_format"`
	PDFPrintBackground *bool             `json:"pdf_print_background"`
	PDFScale           *float64          `json:"pdf_scale"`
	PDFPageRanges      *string           `json:"pdf_page_ranges"`
	PDFWidth           *string           `json:"pdf_width"`
	PDFHeight          *string           `json:"pdf_height"`
	PDFLandscape       *bool             `json:"pdf_landscape"`
	PDFHeaderHTML      *string           `json:"pdf_header_html"`
	PDFFooterHTML      *string           `json:"pdf_footer_html"`
	PDFMargin          *rawMargin        `json:"pdf_margin"`
	PDFPreferCSSSize   *bool             `json:"pdf_prefer_css_page_size"`
	PDFTagged          *bool             `json:"pdf_tagged"`
	PDFOutline         *bool             `json:"pdf_outline"`
	PDFMaxPages        *int              `json:"pdf_max_pages"`
	DarkMode           *bool             `json:"dark_mode"`
	BlockMedia         *bool             `json:"block_media"`
	CustomJS           *string           `json:"custom_js"`
	CustomHeaders      map[string]string `json:"custom_headers"`
	IgnoreHTTPSErrors  *bool             `json:"ignore_https_errors"`
	Proxy              *string           `json:"proxy"`
	UserAgent          *string           `json:"user_agent"`
	UseRandomUserAgent *bool             `json:"use_random_user_agent"`
	UserAgentDevice    *string           `json:"user_agent_device"`
	UserAgentPlatform  *string           `json:"user_agent_platform"`
	UserAgentBrowser   *string           `json:"user_agent_browser"`
	Template           *string           `json:"template"`
	Geolocation        *Geolocation      `json:"geolocation"`
	Interactions       []json.RawMessage `json:"interactions"` // decoded one by one, for field names with the index
	ResponseType       *string           `json:"response_type"`
	CacheTTL           *int              `json:"cache_ttl"`
	// Options of the original that this service accepts for its clients'
	// sake; see Options.Ignored.
	BackgroundColor *string `json:"background_color"`
	UsePopupBlocker *bool   `json:"use_popup_blocker"`
	UseCookieBlock  *bool   `json:"use_cookie_blocker"`
	// What the capture leaves out or changes of the page (page.go).
	BlockAds           *bool             `json:"block_ads"`
	BlockTrackers      *bool             `json:"block_trackers"`
	BlockCookieBanners *bool             `json:"block_cookie_banners"`
	BlockChats         *bool             `json:"block_chats"`
	HideSelectors      []string          `json:"hide_selectors"`
	CustomCSS          *string           `json:"custom_css"`
	ScrollPage         *bool             `json:"scroll_page"`
	Timezone           *string           `json:"timezone"`
	Locale             *string           `json:"locale"`
	Cookies            []json.RawMessage `json:"cookies"` // decoded one by one, like interactions
	Clip               *rawClip          `json:"clip"`
	FailOnHTTPStatus   *string           `json:"fail_on_http_status"`
	// Visual testing (page.go).
	Deterministic *bool    `json:"deterministic"`
	FreezeTime    *string  `json:"freeze_time"`
	Mask          []string `json:"mask"`
	MaskColor     *string  `json:"mask_color"`
	// Diffs (page.go).
	CompareTo       *string  `json:"compare_to"`
	Baseline        *string  `json:"baseline"`
	DiffThreshold   *float64 `json:"diff_threshold"`
	FailOnDiffRatio *float64 `json:"fail_on_diff_ratio"`
}

type rawMargin struct {
	Top    *string `json:"top"`
	Right  *string `json:"right"`
	Bottom *string `json:"bottom"`
	Left   *string `json:"left"`
}

type rawInteraction struct {
	Action   string      `json:"action"`
	Selector *string     `json:"selector"`
	Text     *string     `json:"text"`
	X        *float64    `json:"x"`
	Y        *float64    `json:"y"`
	WaitFor  *rawWaitFor `json:"wait_for"`
}

type rawWaitFor struct {
	Type    string          `json:"type"`
	Value   json.RawMessage `json:"value"`
	Timeout *int            `json:"timeout"` // the step's own limit (selector waits)
}

var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)

// ParseJSON reads one JSON object. Unknown fields and wrong types are errors
// that name the field (the original ignored unknown fields; a typo then
// silently changed the capture).
func ParseJSON(body []byte, lim Limits) (*Options, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r raw
	if err := dec.Decode(&r); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr("body", "must be a single JSON object")
	}
	return r.build(lim)
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return fieldErr(field, "must be %s", describeType(te.Type.Kind().String()))
	case errors.As(err, &se):
		return fieldErr("body", "is not valid JSON (at byte %d)", se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("body", "is empty or truncated")
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		if m[1] == "" {
			return fieldErr("body", "has an option with an empty name")
		}
		return fieldErr(m[1], "is not a known option")
	}
	return fieldErr("body", "is not a valid capture request")
}

func describeType(kind string) string {
	switch kind {
	case "int", "int64":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return "of another type"
}

// build applies the template, then the defaults, then validates.
func (r *raw) build(lim Limits) (*Options, error) {
	if r.Template != nil {
		if err := applyTemplate(r, *r.Template); err != nil {
			return nil, err
		}
	}
	o := &Options{
		URL:                deref(r.URL, ""),
		HTMLContent:        deref(r.HTMLContent, ""),
		Format:             strings.ToLower(deref(r.Format, "png")),
		WindowWidth:        deref(r.WindowWidth, 1920),
		WindowHeight:       deref(r.WindowHeight, 1080),
		PixelDensity:       deref(r.PixelDensity, 1.0),
		FullPage:           deref(r.FullPage, false),
		Selector:           deref(r.Selector, ""),
		ImageQuality:       deref(r.ImageQuality, 90),
		OmitBackground:     deref(r.OmitBackground, false),
		WaitForNetwork:     deref(r.WaitForNetwork, "idle"),
		MarkdownMode:       deref(r.MarkdownMode, "readability"),
		WaitForSelector:    deref(r.WaitForSelector, ""),
		WaitForAnimation:   deref(r.WaitForAnimation, false),
		DarkMode:           deref(r.DarkMode, false),
		BlockMedia:         deref(r.BlockMedia, false),
		CustomJS:           deref(r.CustomJS, ""),
		CustomHeaders:      r.CustomHeaders,
		IgnoreHTTPSErrors:  deref(r.IgnoreHTTPSErrors, false),
		Proxy:              deref(r.Proxy, ""),
		UserAgent:          deref(r.UserAgent, ""),
		UseRandomUserAgent: deref(r.UseRandomUserAgent, false),
		UserAgentDevice:    deref(r.UserAgentDevice, "desktop"),
		UserAgentPlatform:  deref(r.UserAgentPlatform, ""),
		UserAgentBrowser:   deref(r.UserAgentBrowser, "chrome"),
		Template:           deref(r.Template, ""),
		Geolocation:        r.Geolocation,
		ResponseType:       deref(r.ResponseType, "by_format"),
		PDF: PDF{
			Format:            deref(r.PDFFormat, "A4"),
			PrintBackground:   deref(r.PDFPrintBackground, true),
			Scale:             deref(r.PDFScale, 1.0),
			PageRanges:        deref(r.PDFPageRanges, ""),
			Landscape:         deref(r.PDFLandscape, false),
			HeaderHTML:        deref(r.PDFHeaderHTML, ""),
			FooterHTML:        deref(r.PDFFooterHTML, ""),
			PreferCSSPageSize: deref(r.PDFPreferCSSSize, false),
			Tagged:            deref(r.PDFTagged, true),
			Outline:           deref(r.PDFOutline, false),
			MaxPages:          deref(r.PDFMaxPages, DefaultMaxPages),
		},
	}
	v := validator{lim: lim}
	v.target(o)
	v.viewport(o)
	v.formats(o)
	// The original's 8 s default, but never beyond this deployment's deadline.
	defWait := int(min(8*time.Second, lim.MaxTimeout).Milliseconds())
	o.WaitForTimeout = v.millis("wait_for_timeout", deref(r.WaitForTimeout, defWait), 1)
	o.DelayCapture = v.millis("delay_capture", deref(r.DelayCapture, 0), 0)
	if r.CacheTTL != nil {
		if *r.CacheTTL < 0 || *r.CacheTTL > 7*24*3600 {
			v.fail("cache_ttl", "must be between 0 and 604800 seconds")
		}
		o.CacheTTL = time.Duration(*r.CacheTTL) * time.Second
	}
	v.compat(r, o)
	o.PDF.Width = v.length("pdf_width", deref(r.PDFWidth, ""))
	o.PDF.Height = v.length("pdf_height", deref(r.PDFHeight, ""))
	v.pdf(o)
	o.PDF.Margin = v.margin(r.PDFMargin)
	v.script(o)
	v.headers(o)
	v.proxy(o)
	v.userAgent(o)
	v.geolocation(o)
	if len(r.Cookies) > maxCookies {
		return nil, fieldErr("cookies", "has more than %d cookies", maxCookies)
	}
	cookies, err := decodeItems[rawCookie]("cookies", r.Cookies)
	if err != nil {
		return nil, err
	}
	v.page(r, cookies, o)
	if v.err != nil {
		return nil, v.err
	}
	if len(r.Interactions) > maxInteractions {
		return nil, fieldErr("interactions", "has more than %d steps", maxInteractions)
	}
	steps, err := decodeItems[rawInteraction]("interactions", r.Interactions)
	if err != nil {
		return nil, err
	}
	o.Interactions = v.interactions(steps)
	if v.err != nil {
		return nil, v.err
	}
	return o, nil
}

// decodeItems decodes each element of an array option on its own, so an
// error names it as field[i].name, the way validation errors do.
func decodeItems[T any](field string, in []json.RawMessage) ([]T, error) {
	out := make([]T, len(in))
	for i, b := range in {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out[i]); err != nil {
			return nil, InItem(field, i, decodeError(err))
		}
	}
	return out, nil
}

// InItem names a field error of item i of an array field as field[i].name
// (field[i] itself when the item is not an object); any other error is
// returned as it is.
func InItem(field string, i int, err error) error {
	return In(field+"["+strconv.Itoa(i)+"]", err)
}

// In names a field error as one of the object at field (options.url).
func In(field string, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Field == "body" {
		return &FieldError{Field: field, Reason: "must be an object"}
	}
	return &FieldError{Field: field + "." + fe.Field, Reason: fe.Reason}
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// applyTemplate fills the fields the request left unset with a preset.
func applyTemplate(r *raw, name string) error {
	switch name {
	case "mobile":
		unset(&r.WindowWidth, 375)
		unset(&r.WindowHeight, 667)
		unset(&r.PixelDensity, 2)
		unset(&r.UserAgentDevice, "mobile")
		unset(&r.UserAgentPlatform, "ios")
	case "desktop_full":
		unset(&r.WindowWidth, 1920)
		unset(&r.WindowHeight, 1080)
		unset(&r.FullPage, true)
		unset(&r.Format, "png")
		unset(&r.PixelDensity, 2)
	case "article_pdf":
		unset(&r.Format, "pdf")
		unset(&r.PDFFormat, "A4")
		unset(&r.PDFPrintBackground, true)
		unset(&r.FullPage, true)
		unset(&r.WaitForNetwork, "idle")
		unset(&r.BlockMedia, true)
	default:
		d, ok := devices[name]
		if !ok {
			return fieldErr("template", "must be one of %s", strings.Join(templates(), ", "))
		}
		unset(&r.WindowWidth, d.w)
		unset(&r.WindowHeight, d.h)
		unset(&r.PixelDensity, d.dpr)
		unset(&r.UserAgentDevice, "mobile")
		unset(&r.UserAgentPlatform, d.platform)
	}
	return nil
}

// device is a phone or tablet preset: its CSS viewport and pixel ratio as
// the manufacturers and Chrome's device toolbar give them.
type device struct {
	w, h     int
	dpr      float64
	platform string
}

// devices are the presets the original's docs name (iphone_13) and their
// common neighbours.
var devices = map[string]device{
	"iphone_se":         {375, 667, 2, "ios"},
	"iphone_13":         {390, 844, 3, "ios"},
	"iphone_13_pro_max": {428, 926, 3, "ios"},
	"iphone_14_pro_max": {430, 932, 3, "ios"},
	"pixel_5":           {393, 851, 2.75, "android"},
	"pixel_7":           {412, 915, 2.625, "android"},
	"galaxy_s21":        {360, 800, 3, "android"},
	"ipad":              {810, 1080, 2, "ios"},
	"ipad_pro":          {1024, 1366, 2, "ios"},
}

// unset gives *dst the value v if the request left it unset.
func unset[T any](dst **T, v T) {
	if *dst == nil {
		*dst = &v
	}
}
