package imagediff

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pair is a real capture (the dashboard picture the service drew, text
// and anti-aliased edges included) and a changed copy: a box painted, a
// strip shifted by a pixel, a faint tint under the threshold.
func pair(t testing.TB) (*image.RGBA, *image.RGBA) {
	t.Helper()
	f, err := os.ReadFile(filepath.Join("..", "..", "docs", "dashboard.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	a := crop(img, img.Bounds().Dx(), img.Bounds().Dy())
	b := crop(img, img.Bounds().Dx(), img.Bounds().Dy())
	draw.Draw(b, image.Rect(100, 100, 300, 180), image.NewUniform(color.RGBA{200, 30, 30, 255}), image.Point{}, draw.Src)
	strip := image.Rect(0, 400, b.Bounds().Dx(), 460)
	draw.Draw(b, strip, a, strip.Min.Add(image.Pt(1, 0)), draw.Src)
	for y := 600; y < 640; y++ {
		for x := 0; x < 400; x++ {
			c := b.RGBAAt(x, y)
			c.R = uint8(min(255, int(c.R)+3))
			b.SetRGBA(x, y, c)
		}
	}
	return a, b
}

// The counts are pixelmatch's own: the npm package (pinned in
// package-lock.json, installed by make test) run by node on the same pixels.
func TestCountsArePixelmatchs(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	mod := filepath.Join(root, "node_modules", "pixelmatch")
	if _, err := os.Stat(mod); err != nil {
		t.Fatal("pixelmatch is not installed: run make deps-npm-dev (make test does)")
	}
	a, b := pair(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), a.Pix, 0o600)
	os.WriteFile(filepath.Join(dir, "b"), b.Pix, 0o600)
	script := filepath.Join(dir, "pm.js")
	os.WriteFile(script, []byte(`const pm = require(process.argv[2]), fs = require("fs");
const [, , , a, b, w, h, t, out] = process.argv;
const diff = Buffer.alloc(w * h * 4);
console.log(pm(fs.readFileSync(a), fs.readFileSync(b), diff, +w, +h, { threshold: +t }));
fs.writeFileSync(out, diff);`), 0o600)
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	for _, th := range []float64{0, 0.05, DefaultThreshold, 0.3} {
		out := filepath.Join(dir, "diff")
		cmd := exec.Command("node", script, mod, filepath.Join(dir, "a"), filepath.Join(dir, "b"), strconv.Itoa(w), strconv.Itoa(h),
			strconv.FormatFloat(th, 'f', -1, 64), out)
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v %s", err, got)
		}
		want, _ := strconv.Atoi(strings.TrimSpace(string(got)))
		r, diffPNG, err := Compare(context.Background(), a, b, th)
		if err != nil {
			t.Fatal(err)
		}
		if r.MismatchPixels != want || want == 0 {
			t.Errorf("threshold %v: %d mismatched pixels, pixelmatch counts %d", th, r.MismatchPixels, want)
		}
		// The diff image marks the same pixels red, one by one. (The port
		// scales colours by 1/256, pixelmatch by 1/255: the faded
		// background may differ by a shade, and a pixel on the threshold's
		// edge be yellow, anti-aliased, in one and grey in the other;
		// at 0.3 one pixel of this pair is.)
		img, _ := png.Decode(bytes.NewReader(diffPNG))
		ours, js := crop(img, w, h).Pix, readFile(t, out)
		marked := 0
		for i := 0; i < len(js); i += 4 {
			jsMark, ourMark := mark(js[i:i+3]), mark(ours[i:i+3])
			if (jsMark == "red") != (ourMark == "red") {
				t.Fatalf("threshold %v: pixel %d is %q in pixelmatch's diff, %q in ours", th, i/4, jsMark, ourMark)
			}
			if jsMark == "red" {
				marked++
			}
		}
		if marked != want {
			t.Errorf("threshold %v: %d red pixels, %d mismatched", th, marked, want)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mark is what a diff pixel says: red (differs), yellow (anti-aliasing),
// or nothing (the faded image, always grey).
func mark(p []byte) string {
	switch {
	case p[0] == 255 && p[1] == 0 && p[2] == 0:
		return "red"
	case p[0] == 255 && p[1] == 255 && p[2] == 0:
		return "yellow"
	}
	return ""
}

func TestSizeChangeComparesTheCommonArea(t *testing.T) {
	a, b := pair(t)
	taller := image.NewRGBA(image.Rect(0, 0, a.Bounds().Dx(), a.Bounds().Dy()+100))
	draw.Draw(taller, a.Bounds(), a, image.Point{}, draw.Src)
	r, _, err := Compare(context.Background(), a, taller, DefaultThreshold)
	if err != nil || !r.SizeChanged || r.MismatchPixels != 0 {
		t.Errorf("%+v %v", r, err)
	}
	r, _, _ = Compare(context.Background(), a, b, DefaultThreshold)
	if r.SizeChanged || r.MismatchPixels == 0 || r.MismatchRatio <= 0 || r.MismatchRatio >= 0.2 {
		t.Errorf("%+v", r)
	}
}

func TestDecodeBoundsThePixels(t *testing.T) {
	a, _ := pair(t)
	var buf bytes.Buffer
	png.Encode(&buf, a)
	if _, err := Decode(buf.Bytes(), 1000); err != ErrTooLarge {
		t.Errorf("over the budget: %v", err)
	}
	if _, err := Decode([]byte("GIF89a not really"), 0); err != ErrNotImage {
		t.Errorf("not an image: %v", err)
	}
	if _, err := Decode(buf.Bytes(), 0); err != nil {
		t.Error(err)
	}
}

// BenchmarkCompare1080p is the bound: a 1920×1080 pair in well
// under a second here. It reports the ratio to decoding one of them, a
// baseline measured in the same run.
func BenchmarkCompare1080p(b *testing.B) {
	x, y := pair(b)
	big := func(src *image.RGBA) *image.RGBA {
		out := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
		for oy := 0; oy < 1080; oy += src.Bounds().Dy() {
			for ox := 0; ox < 1920; ox += src.Bounds().Dx() {
				draw.Draw(out, image.Rect(ox, oy, 1920, 1080), src, image.Point{}, draw.Src)
			}
		}
		return out
	}
	bx, by := big(x), big(y)
	var enc bytes.Buffer
	png.Encode(&enc, bx)
	b.ResetTimer()
	var decode, compare float64
	for b.Loop() {
		t0 := testingNow()
		Decode(enc.Bytes(), 0) //nolint:errcheck // the baseline
		t1 := testingNow()
		Compare(context.Background(), bx, by, DefaultThreshold) //nolint:errcheck // measured
		decode += t1.Sub(t0).Seconds()
		compare += testingNow().Sub(t1).Seconds()
	}
	n := float64(b.N)
	b.ReportMetric(compare/n*1000, "ms/compare")
	b.ReportMetric(compare/decode, "×decode")
}

var testingNow = time.Now
