package options

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezone names are checked against the IANA database, whatever the image has

	"golang.org/x/text/language"
)

// Page is what a capture leaves out of the page or changes in it: the
// options the commercial APIs share. Every field is off when unset.
type Page struct {
	BlockAds           bool
	BlockTrackers      bool
	BlockCookieBanners bool
	BlockChats         bool
	HideSelectors      []string
	CustomCSS          string
	ScrollPage         bool   // default: full_page
	Timezone           string // IANA name
	Locale             string // BCP 47 tag, canonical form
	Cookies            []Cookie
	Clip               *Clip
	FailOnStatus       []StatusRange // from fail_on_http_status

	// Deterministic settles everything that moves by itself (animations,
	// the caret, the clock, Math.random, videos, scrollbars), so the same
	// page gives the same pixels; FreezeTime is the instant its clock shows.
	Deterministic bool
	FreezeTime    time.Time
	// Mask lists selectors whose boxes are painted over in MaskColor.
	Mask      []string
	MaskColor Color
}

// DefaultFreezeTime is the instant a deterministic capture's clock shows
// unless freeze_time says otherwise.
var DefaultFreezeTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Blocking reports whether any request of the page may be refused by a list.
func (p *Page) Blocking() bool {
	return p.BlockAds || p.BlockTrackers || p.BlockChats
}

// Cookie is set in the capture's own browser context before navigation.
type Cookie struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	Domain   string  `json:"domain,omitempty"` // empty: the target's host only
	Path     string  `json:"path,omitempty"`
	Secure   bool    `json:"secure,omitempty"`
	HTTPOnly bool    `json:"http_only,omitempty"`
	SameSite string  `json:"same_site,omitempty"` // Strict, Lax, None
	Expires  float64 `json:"expires,omitempty"`   // Unix seconds; 0: a session cookie
}

// Clip is a rectangle of the page, in CSS pixels from its top left corner.
type Clip struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// StatusRange is an inclusive range of HTTP statuses.
type StatusRange struct{ From, To int }

// Matches reports whether status is in any of the ranges.
func Matches(rs []StatusRange, status int) bool {
	for _, r := range rs {
		if status >= r.From && status <= r.To {
			return true
		}
	}
	return false
}

type rawCookie struct {
	Name     *string  `json:"name"`
	Value    *string  `json:"value"`
	Domain   string   `json:"domain"`
	Path     string   `json:"path"`
	Secure   bool     `json:"secure"`
	HTTPOnly bool     `json:"http_only"`
	SameSite string   `json:"same_site"`
	Expires  *float64 `json:"expires"`
}

type rawClip struct {
	X      *float64 `json:"x"`
	Y      *float64 `json:"y"`
	Width  *float64 `json:"width"`
	Height *float64 `json:"height"`
}

const (
	maxHideSelectors = 50
	maxCustomCSS     = 100 << 10
	maxCookies       = 50
	maxCookieBytes   = 4096 // name and value, as browsers bound them
	maxLocale        = 35
	maxMask          = 50
	maxStatusList    = 200
)

// page validates the Page options.
func (v *validator) page(r *raw, cookies []rawCookie, o *Options) {
	p := &o.Page
	p.BlockAds = deref(r.BlockAds, false)
	p.BlockTrackers = deref(r.BlockTrackers, false)
	// The original's use_cookie_blocker is the same request.
	p.BlockCookieBanners = deref(r.BlockCookieBanners, false) || deref(r.UseCookieBlock, false)
	p.BlockChats = deref(r.BlockChats, false)
	p.ScrollPage = deref(r.ScrollPage, o.FullPage)
	// A brace would close the hiding rule and open another: only selectors here.
	v.selectorList("hide_selectors", r.HideSelectors, maxHideSelectors, true)
	p.HideSelectors = r.HideSelectors
	p.CustomCSS = deref(r.CustomCSS, "")
	if len(p.CustomCSS) > maxCustomCSS {
		v.fail("custom_css", "is larger than %d bytes", maxCustomCSS)
	}
	p.Timezone = v.timezone(deref(r.Timezone, ""))
	p.Locale = v.locale(deref(r.Locale, ""))
	p.Cookies = v.cookies(cookies)
	p.Clip = v.clip(r.Clip, o)
	p.FailOnStatus = v.statuses(deref(r.FailOnHTTPStatus, ""))
	v.visual(r, o)
	v.diff(r, o)
}

// selectorList checks a list option of CSS selectors: at most max, none
// empty, each one the browser parses; noBraces for those that become the
// text of a style rule.
func (v *validator) selectorList(field string, sels []string, max int, noBraces bool) {
	if len(sels) > max {
		v.fail(field, "has more than %d selectors", max)
	}
	for i, s := range sels {
		item := field + "[" + strconv.Itoa(i) + "]"
		if strings.TrimSpace(s) == "" {
			v.fail(item, "is empty")
		}
		if noBraces && strings.ContainsAny(s, "{}") {
			v.fail(item, "must be a CSS selector, without braces")
		}
		v.selector(item, s)
	}
}

// diff validates compare_to, baseline, diff_threshold and fail_on_diff_ratio.
func (v *validator) diff(r *raw, o *Options) {
	if r.CompareTo == nil && r.Baseline == nil {
		for name, set := range map[string]bool{"diff_threshold": r.DiffThreshold != nil, "fail_on_diff_ratio": r.FailOnDiffRatio != nil} {
			if set {
				v.fail(name, "needs compare_to or baseline")
			}
		}
		return
	}
	d := &Diff{Threshold: deref(r.DiffThreshold, 0.1), FailRatio: r.FailOnDiffRatio}
	o.Diff = d
	switch {
	case r.CompareTo != nil && r.Baseline != nil:
		v.fail("baseline", "cannot be combined with compare_to")
	case !o.IsImage():
		v.fail(map[bool]string{true: "compare_to", false: "baseline"}[r.CompareTo != nil], "applies to png, jpeg and webp captures only")
	case o.CacheTTL > 0:
		v.fail("cache_ttl", "cannot be combined with a diff: a diff is always of a live capture")
	case r.CompareTo != nil:
		d.CompareTo = *r.CompareTo
		if !captureID.MatchString(d.CompareTo) {
			v.fail("compare_to", "must be a capture id")
		}
	default:
		b, err := base64.StdEncoding.DecodeString(*r.Baseline)
		if err != nil || len(b) == 0 {
			v.fail("baseline", "must be an image in standard base64")
		}
		d.Baseline = b
	}
	if d.Threshold < 0 || d.Threshold > 1 {
		v.fail("diff_threshold", "must be between 0 and 1")
	}
	if f := d.FailRatio; f != nil && (*f < 0 || *f > 1) {
		v.fail("fail_on_diff_ratio", "must be between 0 and 1")
	}
}

// captureID is the form of a stored capture's id.
var captureID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// visual validates deterministic, freeze_time, mask and mask_color.
func (v *validator) visual(r *raw, o *Options) {
	p := &o.Page
	p.Deterministic = deref(r.Deterministic, false)
	p.FreezeTime = DefaultFreezeTime
	if r.FreezeTime != nil {
		t, err := time.Parse(time.RFC3339, *r.FreezeTime)
		switch {
		case err != nil:
			v.fail("freeze_time", "must be an RFC 3339 time such as 2025-01-01T00:00:00Z")
		case !p.Deterministic:
			v.fail("freeze_time", "needs deterministic: true")
		case t.Year() < 1970 || t.Year() > 9999:
			v.fail("freeze_time", "must be between 1970 and 9999")
		}
		p.FreezeTime = t.UTC()
	}
	if len(r.Mask) > 0 && !o.IsImage() {
		v.fail("mask", "applies to png, jpeg and webp captures only")
	}
	v.selectorList("mask", r.Mask, maxMask, false)
	p.Mask = r.Mask
	p.MaskColor = Color{R: 0xff, B: 0xff, A: 1}
	if r.MaskColor != nil {
		c, ok := parseHex(*r.MaskColor)
		if !ok {
			v.fail("mask_color", "must be a hex colour such as #ff00ff")
		} else {
			p.MaskColor = *c
		}
	}
}

func (v *validator) timezone(name string) string {
	if name == "" {
		return ""
	}
	// "Local" is the server's zone, not a name a client can mean.
	if _, err := time.LoadLocation(name); err != nil || name == "Local" || len(name) > 64 {
		v.fail("timezone", "must be an IANA time zone name such as Europe/Berlin")
	}
	return name
}

func (v *validator) locale(tag string) string {
	if tag == "" {
		return ""
	}
	t, err := language.Parse(tag)
	if err != nil || len(tag) > maxLocale {
		v.fail("locale", "must be a BCP 47 language tag such as en-US")
		return ""
	}
	return t.String()
}

func (v *validator) cookies(in []rawCookie) []Cookie {
	out := make([]Cookie, 0, len(in))
	for i, r := range in {
		field := "cookies[" + strconv.Itoa(i) + "]"
		c := Cookie{Name: deref(r.Name, ""), Value: deref(r.Value, ""), Domain: strings.ToLower(r.Domain),
			Path: r.Path, Secure: r.Secure, HTTPOnly: r.HTTPOnly, Expires: deref(r.Expires, 0)}
		switch {
		case !validToken(c.Name):
			v.fail(field+".name", "must be a cookie name (letters, digits and !#$%%&'*+-.^_`|~)")
		case r.Value == nil:
			v.fail(field+".value", "is required")
		case len(c.Name)+len(c.Value) > maxCookieBytes:
			v.fail(field, "name and value are more than %d bytes", maxCookieBytes)
		case strings.ContainsFunc(c.Value, func(r rune) bool { return r < 0x21 || r == ';' || r == ',' || r == '"' || r == '\\' || r > 0x7e }):
			v.fail(field+".value", "must be printable ASCII without spaces, quotes, commas, semicolons or backslashes")
		case c.Domain != "" && !validCookieDomain(c.Domain):
			v.fail(field+".domain", "must be a host name such as example.com or .example.com")
		case c.Path != "" && (!strings.HasPrefix(c.Path, "/") || len(c.Path) > 1024 || strings.ContainsAny(c.Path, "; \t\r\n")):
			v.fail(field+".path", "must start with / and hold no spaces or semicolons")
		case r.Expires != nil && (c.Expires < 0 || c.Expires > 253402300799):
			v.fail(field+".expires", "must be Unix seconds")
		}
		if r.SameSite != "" {
			ss, ok := folded(sameSites, r.SameSite)
			if !ok {
				v.fail(field+".same_site", "must be one of %s", strings.Join(sameSites, ", "))
			}
			if ss == "None" && !c.Secure {
				v.fail(field+".same_site", "None needs secure: true, as browsers require")
			}
			c.SameSite = ss
		}
		out = append(out, c)
	}
	return out
}

// validCookieDomain accepts a host name, with an optional leading dot.
func validCookieDomain(d string) bool {
	d = strings.TrimPrefix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	u, err := url.Parse("http://" + d + "/")
	return err == nil && u.Hostname() == d && !strings.ContainsAny(d, ":[]%")
}

func (v *validator) clip(r *rawClip, o *Options) *Clip {
	if r == nil {
		return nil
	}
	if r.X == nil || r.Y == nil || r.Width == nil || r.Height == nil {
		v.fail("clip", "needs x, y, width and height")
		return nil
	}
	c := &Clip{X: *r.X, Y: *r.Y, Width: *r.Width, Height: *r.Height}
	switch {
	case c.X < 0 || c.Y < 0 || c.X > 1e6 || c.Y > 1e6:
		v.fail("clip", "x and y must be between 0 and 1000000")
	case !(c.Width >= 1 && c.Width <= MaxDimension) || !(c.Height >= 1 && c.Height <= 65535):
		v.fail("clip", "width must be between 1 and %d, height between 1 and 65535", MaxDimension)
	case o.Selector != "":
		v.fail("clip", "and selector cannot both be given")
	case !o.IsImage():
		v.fail("clip", "applies to png, jpeg and webp only")
	}
	return c
}

// statuses parses "404,500-599".
func (v *validator) statuses(s string) []StatusRange {
	if s == "" {
		return nil
	}
	if len(s) > maxStatusList {
		v.fail("fail_on_http_status", "is longer than %d characters", maxStatusList)
		return nil
	}
	var out []StatusRange
	for part := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, errA := strconv.Atoi(strings.TrimSpace(from))
		b, errB := a, error(nil)
		if isRange {
			b, errB = strconv.Atoi(strings.TrimSpace(to))
		}
		if errA != nil || errB != nil || a < 100 || b > 599 || a > b {
			v.fail("fail_on_http_status", "must be statuses or ranges between 100 and 599, such as \"404,500-599\"")
			return nil
		}
		out = append(out, StatusRange{a, b})
	}
	return out
}
