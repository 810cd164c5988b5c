package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The heavy-pages workload (issue 38): pages shaped like the web's, not
// like a report. Each of heavySites sites has four names, each a loopback
// address of its own and so a site of its own to Chrome: the page's own,
// a CDN (style sheets, web fonts, most images), an ad network and a video
// host (cross-site iframes). Everything is generated from a seed at start;
// the web fonts are the font files the image installs (fonts-dejavu,
// fonts-liberation), served as a site's own. Nothing is fetched.

// heavyBase is the first address: 127.0.0.64/27 holds 8 sites × 4 names.
const (
	heavyBase  = 64
	heavyNames = 4 // page, cdn, ads, video
	heavyCIDR  = "127.0.0.64/27"
)

// heavySite is one generated site: its page and every file under its names.
type heavySite struct {
	page  string            // the page's HTML
	files map[string][]byte // by path, on any of the site's names
	types map[string]string // Content-Type by path
	bytes int               // what a full load of the page transfers
	image int               // of which the page's images
	count int               // subresources the page asks for (lazy ones included)
}

// startHeavy generates n sites from seed and serves each on its four
// addresses, one port for all; it returns each site's page URL base.
func startHeavy(n int, seed uint64) (urls []string, port string) {
	fonts := systemFonts()
	if len(fonts) < 4 {
		log.Fatal("heavy pages: fewer than 4 font files under /usr/share/fonts (make deps-browser installs them)")
	}
	lns := listenSamePort(heavyBase, n*heavyNames)
	port = strconv.Itoa(lns[0].Addr().(*net.TCPAddr).Port)
	for s := range n {
		site := genHeavy(s, seed, fonts, port)
		h := site.handler()
		for k := range heavyNames {
			go http.Serve(lns[s*heavyNames+k], h)
		}
		urls = append(urls, "http://"+heavyHost(s, 0, port))
		log.Printf("heavy site %d: %d subresources, %.1f MB (%.1f MB of images)", s, site.count,
			float64(site.bytes)/(1<<20), float64(site.image)/(1<<20))
	}
	return urls, port
}

// heavyHost is the address of name k (0 page, 1 cdn, 2 ads, 3 video) of site s.
func heavyHost(s, k int, port string) string {
	return "127.0.0." + strconv.Itoa(heavyBase+s*heavyNames+k) + ":" + port
}

func systemFonts() [][]byte {
	var out [][]byte
	for _, dir := range []string{"/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation"} {
		names, _ := filepath.Glob(filepath.Join(dir, "*.ttf"))
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && len(b) < 2<<20 {
				out = append(out, b)
			}
		}
	}
	return out
}

func (h *heavySite) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/page" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(h.page))
			return
		}
		b, ok := h.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", h.types[r.URL.Path])
		w.Header().Set("Access-Control-Allow-Origin", "*") // fonts are fetched in CORS mode
		w.Write(b)
	})
}

// genHeavy builds site s: 2-4 fonts, 2-4 style sheets, 8-16 scripts, 40-70
// images of 2-6 MB in all (JPEG, PNG, GIF, SVG; a third lazy and below the
// fold), 3-6 iframes (ads and video embeds, each with its own script and
// image), and a document over 8000 px tall.
func genHeavy(s int, seed uint64, fonts [][]byte, port string) *heavySite {
	rng := rand.New(rand.NewPCG(seed, uint64(s)))
	h := &heavySite{files: map[string][]byte{}, types: map[string]string{}}
	add := func(path, typ string, b []byte) string {
		h.files[path], h.types[path] = b, typ
		h.bytes += len(b)
		h.count++
		return path
	}
	cdn := "http://" + heavyHost(s, 1, port)
	ads := "http://" + heavyHost(s, 2, port)
	video := "http://" + heavyHost(s, 3, port)
	var head, body strings.Builder
	// Web fonts, on the CDN, each a family of its own.
	nFonts := 2 + rng.IntN(3)
	var css strings.Builder
	for i := range nFonts {
		f := fonts[rng.IntN(len(fonts))]
		p := add(fmt.Sprintf("/font/%d-%d.ttf", s, i), "font/ttf", f)
		fmt.Fprintf(&css, "@font-face{font-family:f%d;src:url(%s%s) format('truetype');font-display:block}\n", i, cdn, p)
	}
	fmt.Fprintf(&css, "body{margin:0;font-family:f0,sans-serif;color:#1d1d1f;background:#fff}"+
		"h1,h2{font-family:f%d,serif}nav,footer{font-family:f%d,sans-serif}.card{display:inline-block;width:280px;margin:8px;vertical-align:top}"+
		"section{padding:24px 64px;min-height:600px}img{max-width:100%%;height:auto;display:block}\n", 1%nFonts, (nFonts-1)%nFonts)
	nCSS := 2 + rng.IntN(3)
	for i := range nCSS {
		rules := css.String()
		if i > 0 {
			rules = fmt.Sprintf(".c%d-%d{color:#%06x;padding:%dpx}\n", s, i, rng.IntN(1<<24), rng.IntN(20))
			rules = strings.Repeat(rules, 200)
		}
		p := add(fmt.Sprintf("/css/%d.css", i), "text/css", []byte(rules))
		fmt.Fprintf(&head, `<link rel="stylesheet" href="%s%s">`, cdn, p)
	}
	// Scripts: the page's own and third parties' (analytics-like, on the ad host).
	nJS := 8 + rng.IntN(9)
	for i := range nJS {
		js := fmt.Sprintf("(function(){var t=0;for(var i=0;i<%d;i++){t+=Math.sqrt(i)}window.__s%d=t;"+
			"document.documentElement.dataset.s%d='1'})();\n", 2000+rng.IntN(20000), i, i)
		host := "http://" + heavyHost(s, 0, port)
		if i%3 == 2 {
			host = ads
		}
		p := add(fmt.Sprintf("/js/%d.js", i), "text/javascript", []byte(strings.Repeat("/* padding */\n", rng.IntN(400))+js))
		defer_ := ""
		if i%2 == 0 {
			defer_ = " defer"
		}
		fmt.Fprintf(&head, `<script src="%s%s"%s></script>`, host, p, defer_)
	}
	// Images: 2-6 MB across 40-70, mixed formats.
	nImg := 40 + rng.IntN(31)
	budget := (2+rng.IntN(5))<<20 + 128<<10 // a little over: the last image falls short
	var imgs []string
	for i := range nImg {
		// Each image aims at what is left over the images still to make:
		// an estimate that misses is made up by the ones after it.
		size := max(budget/(nImg-i), 8<<10)
		path, typ, b := heavyImage(rng, i, size)
		budget -= len(b)
		h.image += len(b)
		imgs = append(imgs, add(path, typ, b))
	}
	if budget > 0 { // the estimates fell short: one more makes up the rest
		path, typ, b := heavyImage(rng, nImg*4, 2*budget) // a JPEG (i%4 == 0), which the estimate undershoots most
		h.image += len(b)
		imgs = append(imgs, add(path, typ, b))
	}
	// Iframes: ad slots (300x250) and video embeds (560x315), cross-site.
	nFrames := 3 + rng.IntN(4)
	var frames []string
	for i := range nFrames {
		host, w, hgt, kind := ads, 300, 250, "ad"
		if i%2 == 1 {
			host, w, hgt, kind = video, 560, 315, "video"
		}
		_, typ, img := heavyImage(rng, 1000+i, 40<<10)
		ip := add(fmt.Sprintf("/%s/%d.img", kind, i), typ, img)
		js := add(fmt.Sprintf("/%s/%d.js", kind, i), "text/javascript",
			[]byte(fmt.Sprintf("document.body.dataset.ready='%s%d';", kind, i)))
		doc := fmt.Sprintf(`<!doctype html><html><body style="margin:0;background:#%06x"><img src="%s%s" width="%d" height="%d">`+
			`<script src="%s%s"></script></body></html>`, rng.IntN(1<<24), host, ip, w, hgt, host, js)
		fp := add(fmt.Sprintf("/%s/%d.html", kind, i), "text/html; charset=utf-8", []byte(doc))
		frames = append(frames, fmt.Sprintf(`<iframe src="%s%s" width="%d" height="%d" style="border:0"></iframe>`, host, fp, w, hgt))
	}
	// The document: sections of text, cards of images (a third below the
	// fold lazy), the frames among them; well over 8000 px.
	fmt.Fprintf(&body, `<nav style="height:64px;background:#222;color:#fff;padding:20px 64px">Site %d · News · Sport · Money · Video</nav>`, s)
	fmt.Fprintf(&body, "<header><h1 style=\"padding:0 64px\">%s</h1></header>", words(rng, 8))
	perSection := max(1, len(imgs)/14)
	for sec := 0; sec < 14; sec++ {
		fmt.Fprintf(&body, `<section class="c%d-%d"><h2>%s</h2>`, s, 1+sec%max(1, nCSS-1), words(rng, 6))
		for p := 0; p < 3; p++ {
			fmt.Fprintf(&body, "<p>%s</p>", words(rng, 60+rng.IntN(60)))
		}
		for k := 0; k < perSection && len(imgs) > 0; k++ {
			src := imgs[0]
			imgs = imgs[1:]
			lazy := ""
			if sec >= 5 {
				lazy = ` loading="lazy"`
			}
			fmt.Fprintf(&body, `<div class="card"><img src="%s%s"%s width="280" height="180" alt=""><p>%s</p></div>`, cdn, src, lazy, words(rng, 18))
		}
		if sec < len(frames) {
			body.WriteString(frames[sec])
		}
		body.WriteString("</section>")
	}
	for _, src := range imgs { // what the sections did not take
		fmt.Fprintf(&body, `<img src="%s%s" loading="lazy" width="280" height="180" alt="">`, cdn, src)
	}
	body.WriteString(`<footer style="height:400px;background:#eee;padding:40px 64px">© the heavy site</footer>`)
	h.page = `<!doctype html><html><head><meta charset="utf-8"><title>Heavy ` + strconv.Itoa(s) + `</title>` +
		head.String() + `</head><body>` + body.String() + `</body></html>`
	return h
}

var lorem = strings.Fields("the of and to in a is that for on with as by at from this be are it an was which or has have " +
	"market report city season team growth policy results people school energy travel health science music review")

func words(rng *rand.Rand, n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = lorem[rng.IntN(len(lorem))]
	}
	return strings.Join(out, " ")
}

// heavyImage is an image of about size bytes: a photo-like JPEG, a PNG, a
// GIF or an SVG, in turn.
func heavyImage(rng *rand.Rand, i, size int) (path, typ string, b []byte) {
	switch i % 4 {
	case 3:
		var svg strings.Builder
		svg.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="280" height="180">`)
		for svg.Len() < min(size, 200<<10) {
			fmt.Fprintf(&svg, `<circle cx="%d" cy="%d" r="%d" fill="#%06x"/>`, rng.IntN(280), rng.IntN(180), 2+rng.IntN(30), rng.IntN(1<<24))
		}
		svg.WriteString("</svg>")
		return fmt.Sprintf("/img/%d.svg", i), "image/svg+xml", []byte(svg.String())
	}
	// Noise compresses badly, as photographs do: side² × ~2 bytes ≈ size.
	side := 64
	for side*side*2 < size && side < 2048 {
		side += 32
	}
	base := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
	var buf bytes.Buffer
	if i%4 == 2 {
		// A GIF drawn in its own palette: no quantizing, which would cost
		// more than the rest of the site together.
		pal := make(color.Palette, 64)
		for n := range pal {
			pal[n] = color.RGBA{base.R + uint8(n), base.G + uint8(n/2), base.B + uint8(n/3), 255}
		}
		img := image.NewPaletted(image.Rect(0, 0, side, side), pal)
		noise(rng, img.Pix, 1)
		gif.Encode(&buf, img, &gif.Options{NumColors: len(pal)}) //nolint:errcheck // in memory
		return fmt.Sprintf("/img/%d.gif", i), "image/gif", buf.Bytes()
	}
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	noise(rng, img.Pix, 4)
	for p := 0; p < len(img.Pix); p += 4 {
		n := img.Pix[p]
		img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = base.R+n, base.G+n/2, base.B+n/3, 255
	}
	if i%4 == 0 {
		jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}) //nolint:errcheck // in memory
		return fmt.Sprintf("/img/%d.jpg", i), "image/jpeg", buf.Bytes()
	}
	(&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img) //nolint:errcheck // in memory
	return fmt.Sprintf("/img/%d.png", i), "image/png", buf.Bytes()
}

// noise writes a value in 0..63 to every stride-th byte of pix.
func noise(rng *rand.Rand, pix []byte, stride int) {
	var r uint64
	for n, p := 0, 0; p < len(pix); n, p = n+1, p+stride {
		if n%8 == 0 {
			r = rng.Uint64() // eight values in one draw
		}
		pix[p] = uint8(r) & 63
		r >>= 8
	}
}
