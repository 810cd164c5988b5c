package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/poll"
)

// Five captures of a page where everything moves by itself are the same
// bytes with deterministic, and not without it (the fixture proves
// something).
func TestDeterministicCaptures(t *testing.T) {
	e := shared
	shots := func(det bool) [][]byte {
		var out [][]byte
		for range 5 {
			r := e.capture(t, opts{"url": e.page + "/moving", "window_width": 640, "window_height": 420, "deterministic": det,
				"wait_for_selector": "body[data-video=ready]"})
			if r.status != 200 {
				t.Fatalf("deterministic=%v: %d %s", det, r.status, r.body)
			}
			out = append(out, r.body)
		}
		return out
	}
	same := shots(true)
	// The video stands at its first frame: the canvas's first colour, red.
	if img := decodeImage(t, same[0]); !(rgb(img, 500, 55)[0] > 180 && rgb(img, 500, 55)[1] < 90 && rgb(img, 500, 55)[2] < 90) {
		t.Errorf("the video shows %v, not its first frame's red", rgb(img, 500, 55))
	}
	for i, b := range same[1:] {
		if !bytes.Equal(b, same[0]) {
			t.Errorf("deterministic capture %d differs from the first", i+2)
		}
	}
	moving := shots(false)
	differ := false
	for _, b := range moving[1:] {
		differ = differ || !bytes.Equal(b, moving[0])
	}
	if !differ {
		t.Error("five captures without deterministic were identical: the fixture does not move")
	}
	// The clock shows freeze_time; freeze_time alone is refused.
	r := e.capture(t, opts{"url": e.page + "/moving", "deterministic": true, "freeze_time": "2030-05-06T07:08:09Z", "format": "metadata"})
	var md struct{ Title string }
	json.Unmarshal(r.body, &md) //nolint:errcheck // checked below
	if r.status != 200 || md.Title != "2030-05-06T07:08:09.000Z" {
		t.Errorf("freeze_time: %d %s", r.status, r.body)
	}
	for body, field := range map[string]string{
		`{"url":"` + e.page + `","freeze_time":"2030-05-06T07:08:09Z"}`:          "freeze_time",
		`{"url":"` + e.page + `","deterministic":true,"freeze_time":"tomorrow"}`: "freeze_time",
		`{"url":"` + e.page + `","mask":["#a"],"format":"pdf"}`:                  "mask",
		`{"url":"` + e.page + `","mask":["div{"]}`:                               "mask[0]",
		`{"url":"` + e.page + `","mask":["#a"],"mask_color":"magenta"}`:          "mask_color",
	} {
		r := e.do(t, "POST", "/capture", body)
		if m := r.errorJSON(t); r.status != 400 || m["field"] != field {
			t.Errorf("%s: %d %s, want a 400 naming %s", body, r.status, r.body, field)
		}
	}
}

// A mask paints the matching boxes in mask_color, in the viewport, on a
// full page and in a clip.
func TestMask(t *testing.T) {
	e := shared
	base := opts{"url": e.page + "/masked", "window_width": 400, "window_height": 300, "mask": []string{"#top", ".ad"}, "mask_color": "#00ff00"}
	img := e.mustImage(t, base)
	if c := rgb(img, 100, 80); !near(c, 0, 255, 0) {
		t.Errorf("viewport: the box is %v, not the mask's green", c)
	}
	if c := rgb(img, 300, 200); !near(c, 255, 255, 255) {
		t.Errorf("viewport: the page around the mask is %v", c)
	}
	full := opts{"full_page": true}
	for k, v := range base {
		full[k] = v
	}
	img = e.mustImage(t, full)
	for _, p := range [][2]int{{100, 80}, {100, 3030}} {
		if c := rgb(img, p[0], p[1]); !near(c, 0, 255, 0) {
			t.Errorf("full page: %v is %v, not the mask's green", p, c)
		}
	}
	clip := opts{"clip": map[string]any{"x": 0, "y": 2950, "width": 300, "height": 200}}
	for k, v := range base {
		clip[k] = v
	}
	img = e.mustImage(t, clip)
	if c := rgb(img, 100, 80); !near(c, 0, 255, 0) {
		t.Errorf("clip: the box is %v, not the mask's green", c)
	}
	// Unmasked, the boxes are red: the mask is what made them green.
	img = e.mustImage(t, opts{"url": e.page + "/masked", "window_width": 400, "window_height": 300})
	if c := rgb(img, 100, 80); !near(c, 255, 0, 0) {
		t.Errorf("unmasked box is %v", c)
	}
}

// article is a small page; changed moves a headline and a price, as a
// release or a competitor's page changes.
func article(changed bool) string {
	title, price := "Spring collection", "€49"
	if changed {
		title, price = "Summer collection", "€59"
	}
	return `<html><body style="margin:0;font:18px sans-serif;padding:24px;background:#fafafa">
	<h1 style="color:#123">` + title + `</h1><p>Hand-made jackets, shirts and trousers from our workshop.</p>
	<div style="display:flex;gap:16px">` + strings.Repeat(`<div style="width:160px;height:120px;background:#c8d6e5;border-radius:8px"></div>`, 3) + `</div>
	<p style="font-size:28px;color:#b00">` + price + `</p><p>Free delivery over €100. Returns within 30 days.</p></body></html>`
}

// Diffs: against an earlier capture (compare_to) and an inline image
// (baseline), in every response type, with fail_on_diff_ratio's 409.
func TestDiffs(t *testing.T) {
	e := shared
	page := func(changed bool) opts {
		return opts{"html_content": article(changed), "window_width": 640, "window_height": 360, "deterministic": true}
	}
	with := func(o opts, more opts) opts {
		for k, v := range more {
			o[k] = v
		}
		return o
	}
	r := e.capture(t, with(page(false), opts{"response_type": "url"}))
	var first struct{ ID, URL string }
	json.Unmarshal(r.body, &first) //nolint:errcheck // checked below
	if r.status != 201 || first.ID == "" {
		t.Fatalf("baseline capture: %d %s", r.status, r.body)
	}
	type diff struct {
		MismatchPixels int     `json:"mismatch_pixels"`
		MismatchRatio  float64 `json:"mismatch_ratio"`
		Threshold      float64 `json:"threshold"`
		SizeChanged    bool    `json:"size_changed"`
		URL            string  `json:"url"`
	}
	jsonDiff := func(o opts) diff {
		t.Helper()
		r := e.capture(t, with(o, opts{"response_type": "json"}))
		var body struct{ Diff *diff }
		json.Unmarshal(r.body, &body) //nolint:errcheck // checked below
		if r.status != 200 || body.Diff == nil {
			t.Fatalf("%d %.300s", r.status, r.body)
		}
		return *body.Diff
	}
	if d := jsonDiff(with(page(false), opts{"compare_to": first.ID})); d.MismatchPixels != 0 || d.SizeChanged || d.Threshold != 0.1 {
		t.Errorf("the same page: %+v", d)
	}
	d := jsonDiff(with(page(true), opts{"compare_to": first.ID}))
	if d.MismatchPixels < 100 || d.MismatchRatio <= 0 || d.MismatchRatio > 0.2 || d.SizeChanged {
		t.Errorf("the changed page: %+v", d)
	}
	// The diff image: changed pixels in red over a faded capture.
	img := e.download(t, d.URL)
	reds, greys := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := rgb(img, x, y)
			switch {
			case c[0] == 255 && c[1] == 0 && c[2] == 0:
				reds++
			case c[0] == c[1] && c[1] == c[2] && c[0] > 200:
				greys++
			}
		}
	}
	if reds != d.MismatchPixels || greys < b.Dx()*b.Dy()/2 {
		t.Errorf("diff image: %d red pixels for %d mismatched, %d faded", reds, d.MismatchPixels, greys)
	}
	if path := os.Getenv("DIFF_PICTURE"); path != "" {
		var buf bytes.Buffer
		png.Encode(&buf, img)                  //nolint:errcheck // an in-memory buffer
		os.WriteFile(path, buf.Bytes(), 0o644) //nolint:errcheck // a picture for the docs
	}
	// by_format: the capture's bytes, the figures in headers.
	r = e.capture(t, with(page(true), opts{"compare_to": first.ID}))
	if r.status != 200 || r.header.Get("X-Diff-Pixels") != strconv.Itoa(d.MismatchPixels) || r.header.Get("X-Diff-Ratio") == "" ||
		!strings.HasPrefix(r.header.Get("X-Diff-Url"), "http") {
		t.Errorf("by_format: %d %v", r.status, r.header)
	}
	// An inline baseline: the first capture's own bytes, then a smaller one.
	shot := e.capture(t, page(false))
	baseline := base64.StdEncoding.EncodeToString(shot.body)
	if d := jsonDiff(with(page(false), opts{"baseline": baseline})); d.MismatchPixels != 0 {
		t.Errorf("inline baseline, same page: %+v", d)
	}
	small := e.capture(t, with(page(false), opts{"window_height": 200}))
	if d := jsonDiff(with(page(false), opts{"baseline": base64.StdEncoding.EncodeToString(small.body)})); !d.SizeChanged || d.MismatchPixels != 0 {
		t.Errorf("a smaller baseline: %+v", d)
	}
	// Past fail_on_diff_ratio: 409 DiffExceeded with the figures.
	r = e.capture(t, with(page(true), opts{"compare_to": first.ID, "fail_on_diff_ratio": 0.001}))
	m := r.errorJSON(t)
	got, _ := m["diff"].(map[string]any)
	if r.status != 409 || m["error_type"] != "DiffExceeded" || got == nil || got["mismatch_pixels"] != float64(d.MismatchPixels) ||
		!strings.HasPrefix(got["url"].(string), "http") {
		t.Errorf("fail_on_diff_ratio: %d %s", r.status, r.body)
	}
	if r := e.capture(t, with(page(true), opts{"compare_to": first.ID, "fail_on_diff_ratio": 0.5})); r.status != 200 {
		t.Errorf("under fail_on_diff_ratio: %d %s", r.status, r.body)
	}
	// Asynchronously: the job's record and its webhook carry the diff, and
	// the diff image is a capture of the client's like any other.
	r = e.do(t, "POST", "/captures", with(page(true), opts{"compare_to": first.ID, "webhook_url": e.page + "/hook"}))
	var acc struct{ ID string }
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	if r.status != 202 {
		t.Fatalf("async diff: %d %s", r.status, r.body)
	}
	poll.Within(t, 60*time.Second, "the job's webhook", func() bool { return len(e.hooksFor(map[string]bool{acc.ID: true})) > 0 })
	var ev struct{ Data struct{ Diff *diff } }
	json.Unmarshal(e.hooksFor(map[string]bool{acc.ID: true})[0].body, &ev) //nolint:errcheck // checked below
	if ev.Data.Diff == nil || ev.Data.Diff.MismatchPixels != d.MismatchPixels || ev.Data.Diff.URL == "" {
		t.Errorf("webhook's diff: %+v", ev.Data.Diff)
	}
	var job struct{ Diff *diff }
	json.Unmarshal(e.do(t, "GET", "/captures/"+acc.ID, nil).body, &job) //nolint:errcheck // checked below
	if job.Diff == nil || job.Diff.MismatchPixels != d.MismatchPixels {
		t.Fatalf("job's diff: %+v", job.Diff)
	}
	if img := e.download(t, job.Diff.URL); img.Bounds().Dx() != 640 {
		t.Errorf("the job's diff image is %v", img.Bounds())
	}
	// Bad baselines name their field.
	for _, c := range []struct {
		o     opts
		field string
	}{
		{opts{"compare_to": "0123456789abcdef01234567"}, "compare_to"},
		{opts{"compare_to": "../etc/passwd"}, "compare_to"},
		{opts{"baseline": base64.StdEncoding.EncodeToString([]byte("not an image"))}, "baseline"},
		{opts{"baseline": "%%%"}, "baseline"},
		{opts{"compare_to": first.ID, "format": "pdf"}, "compare_to"},
		{opts{"diff_threshold": 0.2}, "diff_threshold"},
	} {
		r := e.capture(t, with(page(false), c.o))
		if m := r.errorJSON(t); r.status != 400 || m["field"] != c.field {
			t.Errorf("%v: %d %s, want a 400 naming %s", c.o, r.status, r.body, c.field)
		}
	}
}

// download fetches a stored capture's signed link and decodes the image.
func (e *env) download(t *testing.T, u string) image.Image {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	img, _, err := image.Decode(resp.Body)
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return img
}
