package options

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pixashot/pixashot-cloudrun/internal/egress"
)

// Size limits of free-text fields. html_content is bounded by the body limit.
const (
	maxURL          = 8192
	maxSelector     = 1024
	maxScript       = 100 << 10
	maxUserAgent    = 512
	maxHeaders      = 32
	maxHeaderValue  = 4096
	maxInteractions = 50
	maxDimension    = MaxDimension
	maxDensity      = 4
)

// MaxDimension is the widest and tallest viewport, and the widest image, in
// CSS pixels.
const MaxDimension = 10000

// validator keeps the first failure; later checks are no-ops once it is set.
type validator struct {
	lim Limits
	err *FieldError
}

func (v *validator) fail(field, format string, args ...any) {
	if v.err == nil {
		v.err = fieldErr(field, format, args...)
	}
}

func (v *validator) oneOf(field, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.fail(field, "must be one of %s", strings.Join(allowed, ", "))
}

// target checks url / html_content: exactly one, and only http(s) URLs with a
// host and no credentials. The egress guard decides what the host may be;
// this is the fast, friendly part.
func (v *validator) target(o *Options) {
	switch {
	case o.URL == "" && o.HTMLContent == "":
		// The original's wording, which its clients match on.
		v.fail("url", "is missing (validation error): Either url or html_content must be provided")
		return
	case o.URL != "" && o.HTMLContent != "":
		v.fail("url", "and html_content cannot both be given")
		return
	case o.HTMLContent != "":
		return
	}
	if reason := CheckHTTPURL(o.URL, maxURL); reason != "" {
		v.fail("url", "%s", reason)
	}
}

// CheckHTTPURL says why s is not an http(s) URL the service may be told to
// reach, a page's or a webhook's ("" when it is): at most maxLen bytes, no
// spaces, control characters or backslashes, a host, no credentials, a
// valid port. Whether the host may be reached is the egress guard's to say.
func CheckHTTPURL(s string, maxLen int) string {
	if len(s) > maxLen {
		return fmt.Sprintf("is longer than %d characters", maxLen)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\\' {
			return "must not contain spaces, control characters or backslashes"
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a valid URL"
	case strings.ToLower(u.Scheme) != "http" && strings.ToLower(u.Scheme) != "https":
		return "must be an http or https URL"
	case u.User != nil:
		return "must not contain credentials"
	case u.Hostname() == "":
		return "must have a host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "has an invalid port"
		}
	}
	return ""
}

func (v *validator) viewport(o *Options) {
	if o.WindowWidth < 1 || o.WindowWidth > maxDimension {
		v.fail("window_width", "must be between 1 and %d", maxDimension)
	}
	if o.WindowHeight < 1 || o.WindowHeight > maxDimension {
		v.fail("window_height", "must be between 1 and %d", maxDimension)
	}
	if !(o.PixelDensity > 0 && o.PixelDensity <= maxDensity) {
		v.fail("pixel_density", "must be greater than 0 and at most %d", maxDensity)
	}
	if px := float64(o.WindowWidth) * float64(o.WindowHeight) * o.PixelDensity * o.PixelDensity; v.lim.MaxPixels > 0 && px > float64(v.lim.MaxPixels) {
		v.fail("window_width", "× window_height × pixel_density² is %.0f pixels, over the budget of %d (MAX_PIXELS)", px, v.lim.MaxPixels)
	}
	if o.ImageQuality < 0 || o.ImageQuality > 100 {
		v.fail("image_quality", "must be between 0 and 100")
	}
	v.selector("selector", o.Selector)
	v.selector("wait_for_selector", o.WaitForSelector)
}

func (v *validator) selector(field, s string) {
	if len(s) > maxSelector {
		v.fail(field, "is longer than %d characters", maxSelector)
	}
}

func (v *validator) formats(o *Options) {
	v.oneOf("format", o.Format, formats...)
	v.oneOf("wait_for_network", o.WaitForNetwork, networkWaits...)
	v.oneOf("markdown_mode", o.MarkdownMode, markdownModes...)
	v.oneOf("response_type", o.ResponseType, responseTypes...)
}

// millis converts a millisecond field, bounded by the capture timeout.
func (v *validator) millis(field string, ms, min int) time.Duration {
	// Compared before converting: a huge count would wrap the Duration.
	if ms < min || int64(ms) > v.lim.MaxTimeout.Milliseconds() {
		v.fail(field, "must be between %d and %d milliseconds", min, v.lim.MaxTimeout.Milliseconds())
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

var lengthRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*(mm|cm|in|px)?\s*$`)

// length parses a CSS-like length ("210mm", "8.5in") into inches.
func (v *validator) length(field, s string) float64 {
	if s == "" {
		return 0
	}
	m := lengthRe.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		v.fail(field, "must be a number with a unit: mm, cm, in or px")
		return 0
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "mm":
		n /= 25.4
	case "cm":
		n /= 2.54
	case "px", "":
		n /= 96
	}
	if n < 0.1 || n > 200 {
		v.fail(field, "must be between 0.1 and 200 inches")
	}
	return n
}

var pageRangesRe = regexp.MustCompile(`^\s*\d+\s*(-\s*\d+\s*)?(,\s*\d+\s*(-\s*\d+\s*)?)*$`)

func (v *validator) pdf(o *Options) {
	if f, ok := folded(pdfFormats, o.PDF.Format); ok {
		o.PDF.Format = f
	} else {
		v.fail("pdf_format", "must be one of %s", strings.Join(pdfFormats, ", "))
	}
	if !(o.PDF.Scale >= 0.1 && o.PDF.Scale <= 2) {
		v.fail("pdf_scale", "must be between 0.1 and 2")
	}
	if o.PDF.PageRanges != "" && !pageRangesRe.MatchString(o.PDF.PageRanges) {
		v.fail("pdf_page_ranges", `must look like "1-5, 8, 11-13"`)
	}
	if o.PDF.MaxPages < 1 || o.PDF.MaxPages > maxPDFPages {
		v.fail("pdf_max_pages", "must be between 1 and %d", maxPDFPages)
	}
	v.template("pdf_header_html", o.PDF.HeaderHTML)
	v.template("pdf_footer_html", o.PDF.FooterHTML)
}

// maxPDFPages bounds pdf_max_pages; maxTemplate a header or footer.
const (
	maxPDFPages = 5000
	maxTemplate = 100 << 10
)

// templateRef finds what a header or footer template could load.
var templateRef = regexp.MustCompile(`(?i)(?:\b(?:src|href|srcset|poster|background|action|data)\s*=\s*["']?\s*([^"'\s>]*)|url\(\s*["']?\s*([^"')\s]*)|@import\s+["']?([^"';\s]*))`)

// template checks a header or footer: bounded, and loading nothing but
// data: URLs. Chrome renders them apart from the page; this keeps them off
// the network whatever it does.
func (v *validator) template(field, html string) {
	if len(html) > maxTemplate {
		v.fail(field, "is larger than %d bytes", maxTemplate)
		return
	}
	for _, m := range templateRef.FindAllStringSubmatch(html, -1) {
		ref := strings.ToLower(strings.TrimSpace(m[1] + m[2] + m[3]))
		if ref != "" && !strings.HasPrefix(ref, "data:") && !strings.HasPrefix(ref, "#") {
			v.fail(field, "may load images only as data: URLs, not %q", truncateRef(ref))
			return
		}
	}
}

func truncateRef(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// margin reads pdf_margin: each side a length with a unit, 0 allowed.
func (v *validator) margin(r *rawMargin) *Margin {
	if r == nil {
		return nil
	}
	side := func(name string, s *string) float64 {
		if s == nil {
			return 0
		}
		if strings.TrimSpace(strings.TrimRight(strings.TrimSpace(*s), "amcinpx")) == "0" {
			return 0
		}
		n := v.length("pdf_margin."+name, *s)
		if n > 20 {
			v.fail("pdf_margin."+name, "must be at most 20 inches")
		}
		return n
	}
	return &Margin{Top: side("top", r.Top), Right: side("right", r.Right), Bottom: side("bottom", r.Bottom), Left: side("left", r.Left)}
}

func (v *validator) script(o *Options) {
	if len(o.CustomJS) > maxScript {
		v.fail("custom_js", "is larger than %d bytes", maxScript)
	}
}

// proxy checks the form of the client's proxy; the egress policy checks
// its address before the capture. The reason never repeats the value.
func (v *validator) proxy(o *Options) {
	if o.Proxy == "" {
		return
	}
	if _, err := egress.ParseProxy(o.Proxy); err != nil {
		v.fail("proxy", "%s", err.Error())
	}
}

// forbiddenHeaders may not be set by a client: hop-by-hop and framing headers
// would confuse the proxy path, and the metadata headers exist only to turn a
// request into a metadata-server request.
var forbiddenHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authorization": true,
	"Proxy-Authenticate": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Upgrade": true, "Host": true, "Content-Length": true, "Expect": true,
	"Metadata-Flavor": true, "Metadata": true, "X-Google-Metadata-Request": true,
	"X-Forwarded-For": true, "X-Forwarded-Host": true, "Forwarded": true,
}

func (v *validator) headers(o *Options) {
	if len(o.CustomHeaders) > maxHeaders {
		v.fail("custom_headers", "has more than %d headers", maxHeaders)
		return
	}
	for name, val := range o.CustomHeaders {
		if !validToken(name) {
			v.fail("custom_headers", "header name %q is not a valid HTTP header name", name)
			return
		}
		if forbiddenHeaders[http.CanonicalHeaderKey(name)] || strings.HasPrefix(strings.ToLower(name), "proxy-") ||
			strings.HasPrefix(strings.ToLower(name), "sec-") {
			v.fail("custom_headers", "header %q may not be set", name)
			return
		}
		if len(val) > maxHeaderValue || strings.ContainsAny(val, "\r\n\x00") {
			v.fail("custom_headers", "value of %q must be at most %d bytes with no line breaks", name, maxHeaderValue)
			return
		}
	}
}

func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || r <= ' ' || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

func (v *validator) userAgent(o *Options) {
	if len(o.UserAgent) > maxUserAgent || strings.IndexFunc(o.UserAgent, unicode.IsControl) >= 0 {
		v.fail("user_agent", "must be at most %d printable characters", maxUserAgent)
	}
	v.oneOf("user_agent_device", o.UserAgentDevice, uaDevices...)
	if o.UserAgentPlatform != "" {
		v.oneOf("user_agent_platform", o.UserAgentPlatform, uaPlatforms...)
	}
	v.oneOf("user_agent_browser", o.UserAgentBrowser, uaBrowsers...)
}

func (v *validator) geolocation(o *Options) {
	g := o.Geolocation
	if g == nil {
		return
	}
	switch {
	case g.Latitude < -90 || g.Latitude > 90:
		v.fail("geolocation.latitude", "must be between -90 and 90")
	case g.Longitude < -180 || g.Longitude > 180:
		v.fail("geolocation.longitude", "must be between -180 and 180")
	case g.Accuracy < 0:
		v.fail("geolocation.accuracy", "must not be negative")
	}
	if g.Accuracy == 0 {
		g.Accuracy = 100 // metres; a zero accuracy is not a position a browser reports
	}
}

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$`)

// compat takes the original's options that have no field of their own:
// background_color becomes the page's default background; use_popup_blocker
// is always true here (popups are blocked); use_cookie_blocker is
// block_cookie_banners (applied in page).
func (v *validator) compat(r *raw, o *Options) {
	if r.BackgroundColor != nil {
		c, ok := parseHex(*r.BackgroundColor)
		if !ok {
			v.fail("background_color", "must be a hex colour such as #ffffff")
		}
		o.Background = c
	}
	if r.UsePopupBlocker != nil && !*r.UsePopupBlocker {
		o.Ignored = append(o.Ignored, "use_popup_blocker") // popups are always blocked
	}
}

func parseHex(s string) (*Color, bool) {
	if !hexColor.MatchString(s) {
		return nil, false
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	n, _ := strconv.ParseUint(h, 16, 64)
	if len(h) == 6 {
		return &Color{R: uint8(n >> 16), G: uint8(n >> 8), B: uint8(n), A: 1}, true
	}
	return &Color{R: uint8(n >> 24), G: uint8(n >> 16), B: uint8(n >> 8), A: float64(uint8(n)) / 255}, true
}

// folded finds s among allowed, ignoring case, in its canonical spelling.
func folded(allowed []string, s string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(a, s) {
			return a, true
		}
	}
	return "", false
}

func (v *validator) interactions(in []rawInteraction) []Interaction {
	if len(in) > maxInteractions {
		v.fail("interactions", "has more than %d steps", maxInteractions)
		return nil
	}
	out := make([]Interaction, 0, len(in))
	for i, r := range in {
		field := "interactions[" + strconv.Itoa(i) + "]"
		it := Interaction{Action: r.Action, Selector: deref(r.Selector, ""), Text: deref(r.Text, ""),
			X: deref(r.X, 0), Y: deref(r.Y, 0)}
		v.selector(field+".selector", it.Selector)
		switch r.Action {
		case "click", "hover":
			if it.Selector == "" {
				v.fail(field+".selector", "is required for %s", r.Action)
			}
		case "type":
			if it.Selector == "" || r.Text == nil {
				v.fail(field, "type needs selector and text")
			}
		case "scroll":
			if r.Selector == nil && (r.X == nil || r.Y == nil) {
				v.fail(field, "scroll needs x and y, or a selector")
			}
		case "wait_for":
			it.WaitFor = v.waitFor(field+".wait_for", r.WaitFor)
		default:
			v.fail(field+".action", "must be one of %s", strings.Join(actions, ", "))
		}
		out = append(out, it)
	}
	return out
}

func (v *validator) waitFor(field string, r *rawWaitFor) *WaitFor {
	if r == nil {
		v.fail(field, "is required for wait_for")
		return nil
	}
	w := &WaitFor{Type: r.Type}
	switch r.Type {
	case "selector":
		if json.Unmarshal(r.Value, &w.Selector) != nil || w.Selector == "" {
			v.fail(field+".value", "must be a CSS selector string")
		}
		v.selector(field+".value", w.Selector)
		if r.Timeout != nil {
			w.Duration = v.millis(field+".timeout", *r.Timeout, 1)
		}
	case "network_idle", "network_mostly_idle", "timeout":
		var ms int
		if json.Unmarshal(r.Value, &ms) != nil {
			v.fail(field+".value", "must be an integer number of milliseconds")
		}
		w.Duration = v.millis(field+".value", ms, 0)
	default:
		v.fail(field+".type", "must be one of %s", strings.Join(waitTypes, ", "))
	}
	return w
}
