package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"

	"github.com/pixashot/pixashot-cloudrun/internal/capture"
)

// threePages is a document of three pages with headings, for the PDF tests.
const threePages = `<html><head><title>Quarterly report</title><style>
	body { margin: 0; font: 16px sans-serif } section { height: 4in; break-after: page }
</style></head><body>
<section><h1>Summary</h1><p>First page text.</p></section>
<section><h2>Revenue</h2><p>Second page text.</p></section>
<section><h2>Outlook</h2><p>Third page text.</p></section></body></html>`

// poppler runs a Poppler tool on the PDF and returns its output.
func poppler(t *testing.T, pdf []byte, tool string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is not installed (make deps-test installs poppler-utils)", tool)
	}
	f := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(f, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, append(args, f, "-")...).CombinedOutput()
	if tool == "pdfinfo" {
		out, err = exec.Command(tool, append(args, f)...).CombinedOutput()
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, out)
	}
	return string(out)
}

func pdfOf(t *testing.T, o opts) []byte {
	t.Helper()
	r := e2ePDF(t, o)
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte("%PDF")) {
		t.Fatalf("%d %.300s", r.status, r.body)
	}
	return r.body
}

func e2ePDF(t *testing.T, o opts) result {
	t.Helper()
	o["format"] = "pdf"
	return shared.capture(t, o)
}

// Header, footer with Chrome's page classes, margins, outline, tags: read
// back with Poppler and pdfcpu.
func TestPDFDocuments(t *testing.T) {
	pdf := pdfOf(t, opts{"html_content": threePages, "pdf_format": "Letter",
		"pdf_header_html": `<div style="font-size:10px;width:100%;text-align:center"><span class="title"></span></div>`,
		"pdf_footer_html": `<div style="font-size:10px;width:100%;text-align:center">Page <span class="pageNumber"></span> of <span class="totalPages"></span></div>`,
		"pdf_margin":      map[string]string{"top": "1in", "right": "1in", "bottom": "1in", "left": "2in"},
		"pdf_outline":     true})
	info := poppler(t, pdf, "pdfinfo")
	if !regexp.MustCompile(`(?m)^Pages:\s+3$`).MatchString(info) || !strings.Contains(info, "612 x 792 pts") {
		t.Fatalf("pdfinfo:\n%s", info)
	}
	if !regexp.MustCompile(`(?m)^Tagged:\s+yes$`).MatchString(info) {
		t.Errorf("not tagged by default:\n%s", info)
	}
	page2 := poppler(t, pdf, "pdftotext", "-f", "2", "-l", "2", "-layout")
	if !strings.Contains(page2, "Page 2 of 3") || !strings.Contains(page2, "Quarterly report") || !strings.Contains(page2, "Second page text") {
		t.Errorf("page 2 text:\n%s", page2)
	}
	// The left margin is 2 in = 144 pt: the body text starts right of it.
	bbox := poppler(t, pdf, "pdftotext", "-f", "1", "-l", "1", "-bbox")
	m := regexp.MustCompile(`xMin="([0-9.]+)"[^>]*>First<`).FindStringSubmatch(bbox)
	if m == nil {
		t.Fatalf("no word 'First' on page 1:\n%.2000s", bbox)
	}
	if x, _ := strconv.ParseFloat(m[1], 64); x < 140 || x > 160 {
		t.Errorf("the body text starts at %.1f pt; a 2 in margin puts it at 144", x)
	}
	bms, err := api.Bookmarks(bytes.NewReader(pdf), model.NewDefaultConfiguration())
	if err != nil || len(bms) == 0 || bms[0].Title != "Summary" {
		t.Fatalf("outline: %v %+v", err, bms)
	}
	var titles []string
	for _, b := range bms {
		titles = append(titles, b.Title)
		for _, k := range b.Kids {
			titles = append(titles, k.Title)
		}
	}
	if strings.Join(titles, ",") != "Summary,Revenue,Outlook" {
		t.Errorf("outline entries %v", titles)
	}
	ctx, err := api.ReadContext(bytes.NewReader(pdf), model.NewDefaultConfiguration())
	if err != nil || ctx.RootDict["StructTreeRoot"] == nil {
		t.Errorf("no structure tree in a tagged PDF: %v", err)
	}
	untagged := pdfOf(t, opts{"html_content": threePages, "pdf_tagged": false})
	if info := poppler(t, untagged, "pdfinfo"); !regexp.MustCompile(`(?m)^Tagged:\s+no$`).MatchString(info) {
		t.Errorf("pdf_tagged false:\n%s", info)
	}
}

func TestPDFLimitsAndTemplates(t *testing.T) {
	r := e2ePDF(t, opts{"html_content": threePages, "pdf_max_pages": 2})
	if r.status != 400 || r.errorJSON(t)["field"] != "pdf_max_pages" {
		t.Errorf("3 pages over pdf_max_pages 2: %d %s", r.status, r.body)
	}
	r = e2ePDF(t, opts{"html_content": threePages, "pdf_footer_html": `<img src="http://127.0.0.2:` + strconv.Itoa(shared.port) + `/logo.png">`})
	if r.status != 400 || r.errorJSON(t)["field"] != "pdf_footer_html" {
		t.Errorf("a footer that loads from the network: %d %s", r.status, r.body)
	}
	if shared.hitCount("/logo.png") != 0 {
		t.Error("the footer's image was fetched")
	}
	logo := "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
	if r := e2ePDF(t, opts{"html_content": threePages, "pdf_header_html": `<img src="` + logo + `" style="height:10px">`}); r.status != 200 {
		t.Errorf("a data: logo in the header: %d %s", r.status, r.body)
	}
	if r := e2ePDF(t, opts{"html_content": threePages, "pdf_margin": map[string]string{"top": "1 furlong"}}); r.status != 400 || r.errorJSON(t)["field"] != "pdf_margin.top" {
		t.Errorf("a bad margin: %d %s", r.status, r.body)
	}
}

// previewPage is served at /preview (pages_test.go).
const previewPage = `<html lang="en-GB"><head><title>Tide tables</title>
<meta name="description" content="When the sea comes in.">
<meta property="og:title" content="Tide tables for 2027"><meta property="og:image" content="https://cdn.example/tides.png">
<meta name="twitter:card" content="summary_large_image">
<link rel="canonical" href="https://example.com/tides"><link rel="icon" href="/favicon.ico" sizes="32x32">
<script>
	// The page lies to its own scripts; the reader runs in its own world.
	Document.prototype.querySelectorAll = () => [];
	Object.defineProperty(document, "title", {get: () => "LIE"});
</script></head>
<body><article><h1>Tide tables</h1><p>The sea comes in twice a day, pulled by the Moon; the tables say when, port by port, for the whole year.</p>
<p>Spring tides follow new and full moon, neap tides the quarters: the range between high and low water changes with them.</p></article></body></html>`

// Metadata from the rendered DOM, beside a capture or alone; text and
// Markdown of the main content.
func TestMetadataAndText(t *testing.T) {
	e := shared
	r := e.capture(t, opts{"url": e.page + "/preview", "format": "metadata"})
	var md capture.Metadata
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || json.Unmarshal(r.body, &md) != nil {
		t.Fatalf("format metadata: %d %s", r.status, r.body)
	}
	if md.Status != 200 || md.FinalURL != e.page+"/preview" || md.Title != "Tide tables" || md.Description != "When the sea comes in." ||
		md.Canonical != "https://example.com/tides" || md.Language != "en-GB" || md.OpenGraph["title"] != "Tide tables for 2027" ||
		md.OpenGraph["image"] != "https://cdn.example/tides.png" || md.Twitter["card"] != "summary_large_image" ||
		len(md.Icons) != 1 || md.Icons[0].Href != e.page+"/favicon.ico" || md.Icons[0].Sizes != "32x32" {
		t.Errorf("metadata %+v", md)
	}
	r = e.capture(t, opts{"url": e.page + "/preview", "response_type": "json", "window_width": 100, "window_height": 100})
	var withShot struct {
		File     string `json:"file"`
		Metadata struct{ Title string }
	}
	if json.Unmarshal(r.body, &withShot) != nil || withShot.File == "" || withShot.Metadata.Title != "Tide tables" {
		t.Errorf("response_type json: %d %.300s", r.status, r.body)
	}
	r = e.capture(t, opts{"url": e.page + "/preview", "format": "markdown"})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") ||
		!strings.Contains(string(r.body), "# Tide tables") || !strings.Contains(string(r.body), "pulled by the Moon") || strings.Contains(string(r.body), "<script") {
		t.Errorf("markdown: %d %s %.500s", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = e.capture(t, opts{"url": e.page + "/preview", "format": "text"})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") || !strings.Contains(string(r.body), "neap tides") {
		t.Errorf("text: %d %.300s", r.status, r.body)
	}
}

// format links: every link, resolved against the document's base, read in
// the isolated world (the page's redefined href getter does not reach
// it), each said to be on the page's site or not.
func TestLinksFormat(t *testing.T) {
	e := shared
	r := e.capture(t, opts{"url": strings.Replace(e.page, "127.0.0.2", "page.test", 1) + "/links", "format": "links"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %.300s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var got struct {
		URL       string
		Count     int
		Truncated bool
		Links     []struct {
			Href, Text, Rel string
			SameSite        bool `json:"same_site"`
		}
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(e.page, "127.0.0.2", "page.test", 1)
	want := []struct {
		href, text, rel string
		same            bool
	}{
		{base + "/docs/intro.html", "Intro page", "next", true},
		{"https://www.example.org/x?q=1", "Example", "", false},
		{"http://sub.page.test/y", "Same site, other host", "", true},
		{"mailto:a@example.org", "Mail", "", false},
		{base + "/area", "An area", "", true},
	}
	if got.Count != len(want) || got.Truncated || len(got.Links) != len(want) || got.URL != base+"/links" {
		t.Fatalf("%s", r.body)
	}
	for i, w := range want {
		l := got.Links[i]
		if l.Href != w.href || l.Text != w.text || l.Rel != w.rel || l.SameSite != w.same {
			t.Errorf("link %d: %+v, want %+v", i, l, w)
		}
	}
	// The same page as Markdown, whole (markdown_mode full): every link in
	// it, resolved.
	r = e.capture(t, opts{"url": e.page + "/links", "format": "markdown", "markdown_mode": "full"})
	if r.status != 200 || !strings.Contains(string(r.body), "[Example](https://www.example.org/x?q=1)") ||
		!strings.Contains(string(r.body), "(mailto:a@example.org)") {
		t.Errorf("markdown_mode full: %d %.500s", r.status, r.body)
	}
}

// format json_ld: every block of the rendered page (one a script added),
// an array's items one by one, and a block that is not JSON counted.
func TestJSONLDFormat(t *testing.T) {
	e := shared
	r := e.capture(t, opts{"url": e.page + "/structured", "format": "json_ld"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %.300s", r.status, r.body)
	}
	var got struct {
		Items     []map[string]any
		Invalid   int
		Truncated bool
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range got.Items {
		names = append(names, fmt.Sprint(it["@type"], ":", it["name"], it["headline"]))
	}
	want := "[Article:<nil>Tides Person:Ada<nil> Place:Harbour<nil> Event:Spring tide<nil>]"
	if fmt.Sprint(names) != want || got.Invalid != 1 || got.Truncated {
		t.Errorf("%v invalid %d: %s", names, got.Invalid, r.body)
	}
}
