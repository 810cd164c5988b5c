package options

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"

	"github.com/pixashot/pixashot-cloudrun/internal/egress"
)

// The enumerations of the wire format. The validator checks against these
// and Fields lists them, so the API description cannot drift from the parser.
var (
	formats       = []string{"png", "jpeg", "webp", "pdf", "html", "metadata", "markdown", "text", "links", "json_ld"}
	networkWaits  = []string{"idle", "mostly_idle"}
	markdownModes = []string{"readability", "full"}
	responseTypes = []string{"by_format", "json", "empty", "url"}
	pdfFormats    = []string{"A4", "Letter", "Legal"}
	uaDevices     = []string{"desktop", "mobile"}
	uaPlatforms   = []string{"windows", "macos", "ios", "linux", "android"}
	uaBrowsers    = []string{"chrome", "edge", "firefox", "safari"}
	actions       = []string{"click", "type", "hover", "scroll", "wait_for"}
	waitTypes     = []string{"network_idle", "network_mostly_idle", "selector", "timeout"}
	sameSites     = []string{"Strict", "Lax", "None"}
	presets       = []string{"mobile", "desktop_full", "article_pdf"}
)

// templates are the presets, then the devices by name.
func templates() []string {
	names := append([]string(nil), presets...)
	devs := make([]string, 0, len(devices))
	for n := range devices {
		devs = append(devs, n)
	}
	sort.Strings(devs)
	return append(names, devs...)
}

// Field describes one option as it is on the wire: what an API description,
// a CLI or a form needs. Its names and types are read off the parser's own
// structs; the rest comes from fieldDocs, checked against the parser by tests.
type Field struct {
	Name             string // wire name; empty for array items and map values
	Path             string // e.g. cookies[].same_site
	Type             string // JSON Schema type; empty for a string-or-integer (wait_for.value)
	Description      string
	Enum             []string
	Minimum, Maximum *float64
	ExclusiveMinimum bool // Minimum itself is refused
	MaxLength        int
	MaxItems         int
	Default          any
	Required         []string
	Items            *Field  // arrays
	Properties       []Field // objects with fixed members
	Values           *Field  // objects that map names to values (custom_headers)
}

// Fields describes every option of a capture request, in the parser's order,
// with the bounds that depend on this deployment's limits.
func Fields(lim Limits) []Field {
	return describe(reflect.TypeFor[raw](), "", lim).Properties
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

// arrayItems are the arrays decoded item by item (from json.RawMessage).
var arrayItems = map[string]reflect.Type{
	"interactions": reflect.TypeFor[rawInteraction](),
	"cookies":      reflect.TypeFor[rawCookie](),
}

func describe(t reflect.Type, path string, lim Limits) Field {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	f := Field{Path: path}
	switch {
	case t == rawMessage:
		// wait_for.value: a selector or milliseconds, by type.
	case t.Kind() == reflect.String:
		f.Type = "string"
	case t.Kind() == reflect.Int:
		f.Type = "integer"
	case t.Kind() == reflect.Float64:
		f.Type = "number"
	case t.Kind() == reflect.Bool:
		f.Type = "boolean"
	case t.Kind() == reflect.Map:
		f.Type = "object"
		v := describe(t.Elem(), path+".*", lim)
		f.Values = &v
	case t.Kind() == reflect.Slice:
		f.Type = "array"
		elem := t.Elem()
		if elem == rawMessage {
			elem = arrayItems[path]
		}
		it := describe(elem, path+"[]", lim)
		f.Items = &it
	case t.Kind() == reflect.Struct:
		f.Type = "object"
		for i := range t.NumField() {
			sf := t.Field(i)
			name := strings.Split(sf.Tag.Get("json"), ",")[0]
			p := name
			if path != "" {
				p = path + "." + name
			}
			m := describe(sf.Type, p, lim)
			m.Name = name
			f.Properties = append(f.Properties, m)
		}
	}
	if d, ok := fieldDocs(lim)[path]; ok {
		d.apply(&f)
	}
	return f
}

// doc is what the structs cannot say about a field.
type doc struct {
	desc             string
	enum             []string
	min, max         *float64
	exclusiveMin     bool
	maxLen, maxItems int
	def              any
	required         []string
}

func (d doc) apply(f *Field) {
	f.Description, f.Enum, f.Minimum, f.Maximum = d.desc, d.enum, d.min, d.max
	f.ExclusiveMinimum, f.MaxLength, f.MaxItems, f.Default, f.Required = d.exclusiveMin, d.maxLen, d.maxItems, d.def, d.required
}

func num(v float64) *float64 { return &v }

// fieldDocs holds, by path, each field's description and the bounds the
// validator enforces. Every field of the parser has an entry (a test says so).
func fieldDocs(lim Limits) map[string]doc {
	maxMS := float64(lim.MaxTimeout.Milliseconds())
	waitDefault := min(8000, int(maxMS))
	return map[string]doc{
		"url":                      {desc: "The page to capture: an http or https URL without credentials. Exactly one of url and html_content.", maxLen: maxURL},
		"html_content":             {desc: "A whole HTML document to capture instead of a URL. Its subresources go through the same egress policy as a page's."},
		"format":                   {desc: "What to capture.", enum: formats, def: "png"},
		"window_width":             {desc: "Viewport width in CSS pixels.", min: num(1), max: num(maxDimension), def: 1920},
		"window_height":            {desc: "Viewport height in CSS pixels.", min: num(1), max: num(maxDimension), def: 1080},
		"pixel_density":            {desc: "Device pixel ratio; width × height × density² is bounded by MAX_PIXELS.", min: num(0), exclusiveMin: true, max: num(maxDensity), def: 1.0},
		"full_page":                {desc: "Capture the whole scrollable page, not only the viewport.", def: false},
		"selector":                 {desc: "Capture only the first element matching this CSS selector.", maxLen: maxSelector},
		"image_quality":            {desc: "JPEG and WebP quality.", min: num(0), max: num(100), def: 90},
		"omit_background":          {desc: "A transparent background instead of white (png, webp).", def: false},
		"wait_for_network":         {desc: "How quiet the network must be before the capture.", enum: networkWaits, def: "idle"},
		"markdown_mode":            {desc: "format markdown: the page's main content as a reader view finds it (readability), or the whole rendered page (full).", enum: markdownModes, def: "readability"},
		"wait_for_timeout":         {desc: "The longest wait for load, network quiet and wait_for_selector, in milliseconds; at most CAPTURE_TIMEOUT.", min: num(1), max: num(maxMS), def: waitDefault},
		"wait_for_selector":        {desc: "Wait until an element matches this CSS selector.", maxLen: maxSelector},
		"wait_for_animation":       {desc: "Wait until CSS animations and transitions have finished.", def: false},
		"delay_capture":            {desc: "A pause before the capture, in milliseconds.", min: num(0), max: num(maxMS), def: 0},
		"pdf_format":               {desc: "Paper size (case-insensitive).", enum: pdfFormats, def: "A4"},
		"pdf_print_background":     {desc: "Print background colours and images.", def: true},
		"pdf_scale":                {desc: "Scale of the page's rendering.", min: num(0.1), max: num(2), def: 1.0},
		"pdf_page_ranges":          {desc: `Pages to print, such as "1-5, 8, 11-13"; all when unset.`},
		"pdf_width":                {desc: "Paper width with a unit (mm, cm, in, px), overriding pdf_format."},
		"pdf_height":               {desc: "Paper height with a unit (mm, cm, in, px), overriding pdf_format."},
		"pdf_landscape":            {desc: "Landscape orientation.", def: false},
		"pdf_header_html":          {desc: "Chrome's header template (pageNumber, totalPages, title, url, date classes); images only as data: URLs.", maxLen: maxTemplate},
		"pdf_footer_html":          {desc: "Chrome's footer template, like pdf_header_html.", maxLen: maxTemplate},
		"pdf_margin":               {desc: "Page margins, each a length with a unit (mm, cm, in, px); 0 allowed."},
		"pdf_margin.top":           {desc: "Top margin."},
		"pdf_margin.right":         {desc: "Right margin."},
		"pdf_margin.bottom":        {desc: "Bottom margin."},
		"pdf_margin.left":          {desc: "Left margin."},
		"pdf_prefer_css_page_size": {desc: "Use the page's CSS @page size over pdf_format.", def: false},
		"pdf_tagged":               {desc: "An accessible (tagged) PDF.", def: true},
		"pdf_outline":              {desc: "A document outline from the headings.", def: false},
		"pdf_max_pages":            {desc: "More pages than this is a 400.", min: num(1), max: num(maxPDFPages), def: DefaultMaxPages},
		"dark_mode":                {desc: "Emulate prefers-color-scheme: dark.", def: false},
		"block_media":              {desc: "Do not load images, media and fonts.", def: false},
		"custom_js":                {desc: "A script run in the page before the capture.", maxLen: maxScript},
		"custom_headers":           {desc: "Extra request headers for the page's own requests; hop-by-hop, proxy, Sec- and metadata headers are refused."},
		"custom_headers.*":         {desc: "A header value without line breaks.", maxLen: maxHeaderValue},
		"ignore_https_errors":      {desc: "Accept the target's invalid TLS certificates.", def: false},
		"proxy": {desc: "Your own proxy for every connection of the capture: http://, https:// or socks5://, with an optional user:password@. " +
			"Its address must be public; targets are named to it, and it decides what they are. Its credentials are never logged, stored or echoed.",
			maxLen: egress.MaxProxyLength},
		"user_agent":                      {desc: "The User-Agent header and navigator.userAgent.", maxLen: maxUserAgent},
		"use_random_user_agent":           {desc: "A current user agent of the device, platform and browser below.", def: false},
		"user_agent_device":               {desc: "Device class of a generated user agent.", enum: uaDevices, def: "desktop"},
		"user_agent_platform":             {desc: "Platform of a generated user agent.", enum: uaPlatforms},
		"user_agent_browser":              {desc: "Browser of a generated user agent.", enum: uaBrowsers, def: "chrome"},
		"template":                        {desc: "A preset that fills the options the request leaves unset.", enum: templates()},
		"geolocation":                     {desc: "What navigator.geolocation reports."},
		"geolocation.latitude":            {desc: "Degrees north.", min: num(-90), max: num(90)},
		"geolocation.longitude":           {desc: "Degrees east.", min: num(-180), max: num(180)},
		"geolocation.accuracy":            {desc: "Metres; 0 means 100.", min: num(0)},
		"interactions":                    {desc: "Steps run in order before the capture.", maxItems: maxInteractions},
		"interactions[]":                  {desc: "One step.", required: []string{"action"}},
		"interactions[].action":           {desc: "What the step does.", enum: actions},
		"interactions[].selector":         {desc: "The element (click, hover, type; scroll to it).", maxLen: maxSelector},
		"interactions[].text":             {desc: "What to type."},
		"interactions[].x":                {desc: "Scroll position, CSS pixels."},
		"interactions[].y":                {desc: "Scroll position, CSS pixels."},
		"interactions[].wait_for":         {desc: "The condition of a wait_for step.", required: []string{"type"}},
		"interactions[].wait_for.type":    {desc: "What to wait for.", enum: waitTypes},
		"interactions[].wait_for.value":   {desc: "A CSS selector (selector) or milliseconds (the others)."},
		"interactions[].wait_for.timeout": {desc: "A selector wait's own limit in milliseconds.", min: num(1), max: num(maxMS)},
		"response_type":                   {desc: "How the answer carries the capture: the bytes, JSON with base64, 204, or a stored capture's link.", enum: responseTypes, def: "by_format"},
		"cache_ttl":                       {desc: "Answer from this client's identical capture of at most this many seconds ago (needs storage).", min: num(0), max: num(7 * 24 * 3600)},
		"background_color":                {desc: "The page's default background, a hex colour such as #ffffff (the original's option)."},
		"use_popup_blocker":               {desc: "The original's option; popups are always blocked here, false is ignored."},
		"use_cookie_blocker":              {desc: "The original's name for block_cookie_banners."},
		"block_ads":                       {desc: "Block ads (EasyList) and hide their slots.", def: false},
		"block_trackers":                  {desc: "Block trackers (EasyPrivacy, URLhaus).", def: false},
		"block_cookie_banners":            {desc: "Reject cookie consent dialogs (autoconsent) and hide other notices.", def: false},
		"block_chats":                     {desc: "Block chat widgets.", def: false},
		"deterministic": {desc: "Settle what moves by itself before any page script runs, so the same page gives the same pixels: " +
			"CSS animations and transitions finished (infinite ones reset to their start), Web Animations paused, the caret hidden, " +
			"Date frozen at freeze_time and performance.now with it (timers still run), Math.random seeded, videos paused at their first frame, " +
			"scrollbars hidden, smooth scrolling off, web fonts loaded.", def: false},
		"freeze_time":         {desc: "The instant a deterministic capture's clock shows (RFC 3339; 2025-01-01T00:00:00Z when unset); needs deterministic."},
		"mask":                {desc: "Paint over the boxes of the elements matching these CSS selectors in mask_color, after layout (images only).", maxItems: maxMask},
		"mask[]":              {desc: "A CSS selector.", maxLen: maxSelector},
		"mask_color":          {desc: "The colour of mask, a hex colour.", def: "#FF00FF"},
		"compare_to":          {desc: "Compare the capture with an earlier stored capture of yours (its id): the answer carries diff (images only)."},
		"baseline":            {desc: "Compare the capture with this image (PNG, JPEG or WebP, standard base64, within MAX_PIXELS): the answer carries diff (images only)."},
		"diff_threshold":      {desc: "pixelmatch's colour threshold: a pixel counts as changed past this YIQ distance (0 exact, 1 anything; 0.1 when unset).", min: num(0), max: num(1)},
		"fail_on_diff_ratio":  {desc: "Above this share of changed pixels the capture answers 409 DiffExceeded, with the figures and the diff's url.", min: num(0), max: num(1)},
		"hide_selectors":      {desc: "Hide the elements matching these CSS selectors.", maxItems: maxHideSelectors},
		"hide_selectors[]":    {desc: "A CSS selector, without braces.", maxLen: maxSelector},
		"custom_css":          {desc: "A stylesheet added to the page (no @import).", maxLen: maxCustomCSS},
		"scroll_page":         {desc: "Scroll to the bottom and back before the capture, so lazy content loads; defaults to full_page."},
		"timezone":            {desc: "An IANA time zone such as Europe/Berlin.", maxLen: 64},
		"locale":              {desc: "A BCP 47 language tag such as de-CH, for navigator.language, Intl and Accept-Language.", maxLen: maxLocale},
		"cookies":             {desc: "Cookies set before navigation, for the target's host unless domain is given.", maxItems: maxCookies},
		"cookies[]":           {desc: "One cookie.", required: []string{"name", "value"}},
		"cookies[].name":      {desc: "A cookie name token."},
		"cookies[].value":     {desc: "Printable ASCII without spaces, quotes, commas, semicolons or backslashes."},
		"cookies[].domain":    {desc: "A host name, optionally with a leading dot."},
		"cookies[].path":      {desc: "Starts with /."},
		"cookies[].secure":    {desc: "Sent over https only."},
		"cookies[].http_only": {desc: "Hidden from scripts."},
		"cookies[].same_site": {desc: "None needs secure (case-insensitive).", enum: sameSites},
		"cookies[].expires":   {desc: "Unix seconds; unset: a session cookie.", min: num(0), max: num(253402300799)},
		"clip":                {desc: "A rectangle of the page in CSS pixels (images only, not with selector).", required: []string{"x", "y", "width", "height"}},
		"clip.x":              {desc: "From the left.", min: num(0), max: num(1e6)},
		"clip.y":              {desc: "From the top.", min: num(0), max: num(1e6)},
		"clip.width":          {desc: "Width.", min: num(1), max: num(maxDimension)},
		"clip.height":         {desc: "Height.", min: num(1), max: num(65535)},
		"fail_on_http_status": {desc: `Fail with 502 TargetStatusError when the page's HTTP status is in these, such as "404,500-599".`, maxLen: maxStatusList},
	}
}
