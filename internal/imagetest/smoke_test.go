package imagetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// shared is one container for the tests that need nothing of their own.
var (
	sharedOnce sync.Once
	sharedBox  *box
	sharedErr  error
	hookKey    = "whsec_" + base64.StdEncoding.EncodeToString([]byte(randomHex(16)))
)

func shared(t *testing.T) *box {
	sharedOnce.Do(func() {
		// Outlives the test that starts it: TestMain removes it.
		sharedBox, sharedErr = start(boxOptions{env: map[string]string{"WEBHOOK_SIGNING_KEY": hookKey}})
	})
	if sharedErr != nil {
		t.Fatal("the shared container did not start: ", sharedErr)
	}
	sharedBox.t = t
	return sharedBox
}

func (b *box) image(body map[string]any) image.Image {
	b.t.Helper()
	r := b.call("POST", "/capture", body)
	if r.status != 200 {
		b.t.Fatalf("capture: %s", r)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		b.t.Fatalf("not a PNG: %v", err)
	}
	return img
}

func rgb(img image.Image, x, y int) [3]int {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
}

func near(c [3]int, r, g, b int) bool {
	d := func(a, b int) bool { return a-b < 24 && b-a < 24 }
	return d(c[0], r) && d(c[1], g) && d(c[2], b)
}

// The start as Cloud Run sees it: the image's user 10001, a read-only root,
// Chrome's sandbox on and doing its work (each renderer in namespaces of
// its own under crun; under gVisor, a renderer under Chrome's seccomp
// filter that the browser is not), and the time to the first capture.
func TestStartsAsCloudRunRunsIt(t *testing.T) {
	b := run(t, boxOptions{})
	b.image(map[string]any{"html_content": "<p>first</p>", "window_width": 200, "window_height": 100})
	t.Logf("%s: start to first capture %v", runtimeName, time.Since(b.started).Round(time.Millisecond))

	// Every process, as the container sees it (podman top cannot see into
	// gVisor's kernel).
	uids, err := b.exec(`for p in /proc/[0-9]*; do u=$(grep '^Uid:' $p/status 2>/dev/null | cut -f2); [ -n "$u" ] && echo "$u $(tr '\0' ' ' 2>/dev/null <$p/cmdline | cut -c1-60)"; done 2>/dev/null; true`)
	if err != nil {
		t.Fatal(uids)
	}
	for _, line := range strings.Split(uids, "\n") {
		// A process that ended between the listing and the read prints nothing.
		if f := strings.Fields(line); len(f) > 1 && f[0] != "10001" && strings.Trim(f[0], "0123456789") == "" {
			t.Errorf("a process runs as uid %s, not the image's user 10001: %s", f[0], line)
		}
	}
	if _, err := b.exec("touch /usr/local/bin/x"); err == nil {
		t.Error("the root file system is writable")
	}
	logs := b.logs()
	if !strings.Contains(logs, `"message":"browser started"`) || !strings.Contains(logs, `"sandbox":true`) {
		t.Errorf("no start with the sandbox on in the log:\n%s", logs)
	}

	// Chrome's processes, as the container sees them.
	status, err := b.exec(`for p in /proc/[0-9]*; do if tr '\0' ' ' <$p/cmdline 2>/dev/null | grep -q chromium-headless-shell; then ` +
		`echo "$(tr '\0' ' ' <$p/cmdline | grep -o -- '--type=[a-z]*' | head -1) $(grep -E '^(NSpid|Seccomp):' $p/status | tr '\n\t' '  ')"; fi; done`)
	if err != nil {
		t.Fatal(status)
	}
	var browser, renderer string
	for _, line := range strings.Split(status, "\n") {
		switch {
		case strings.HasPrefix(line, "--type=renderer"):
			renderer = line
		case strings.HasPrefix(line, " "):
			browser = line
		}
	}
	t.Logf("browser:  %s\nrenderer: %s", browser, renderer)
	if renderer == "" || browser == "" {
		t.Fatalf("no browser or renderer process seen:\n%s", status)
	}
	// fields reads "--type=renderer NSpid: 92 24 1 Seccomp: 2" into
	// NSpid [92 24 1] and Seccomp [2].
	fields := func(line string) map[string][]string {
		m, key := map[string][]string{}, ""
		for _, w := range strings.Fields(line) {
			if k, ok := strings.CutSuffix(w, ":"); ok {
				key, m[k] = k, nil
			} else if key != "" {
				m[key] = append(m[key], w)
			}
		}
		return m
	}
	rf, bf := fields(renderer), fields(browser)
	switch runtimeName {
	case "runsc":
		if s := rf["Seccomp"]; len(s) != 1 || s[0] != "2" {
			t.Errorf("the renderer is not under Chrome's seccomp filter: %s", renderer)
		}
		if s := bf["Seccomp"]; len(s) != 1 || s[0] != "0" {
			t.Errorf("the browser process is under a filter too, so the renderer's proves nothing: %s", browser)
		}
	default:
		if r, bw := len(rf["NSpid"]), len(bf["NSpid"]); bw == 0 || r <= bw {
			t.Errorf("the renderer shares the browser's pid namespace (NSpid levels %d, browser %d): no sandbox", r, bw)
		}
	}
}

func TestPNGAndPDF(t *testing.T) {
	b := shared(t)
	img := b.image(map[string]any{"url": pages.base + "/color?c=00ff00", "window_width": 320, "window_height": 200})
	if img.Bounds().Dx() != 320 || !near(rgb(img, 160, 100), 0, 255, 0) {
		t.Errorf("PNG: %v, centre %v", img.Bounds(), rgb(img, 160, 100))
	}
	r := b.call("POST", "/capture", map[string]any{"html_content": "<h1>Invoice 4711</h1>", "format": "pdf"})
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte("%PDF-")) {
		t.Fatalf("PDF: %s", r)
	}
	f := filepath.Join(t.TempDir(), "doc.pdf")
	os.WriteFile(f, r.body, 0o600) //nolint:errcheck // read back below
	if text, err := exec.Command("pdftotext", f, "-").Output(); err != nil || !strings.Contains(string(text), "Invoice 4711") {
		t.Errorf("PDF text %q, %v", text, err)
	}
}

// Hello 世界 🎉 drawn with the image's own fonts, checked by pixels.
func TestFontsRenderEveryScript(t *testing.T) {
	b := shared(t)
	img := b.image(map[string]any{"url": pages.base + "/fonts", "window_width": 400, "window_height": 140})
	cell := func(i int) image.Rectangle { return image.Rect(80*i, 0, 80*i+80, 80) }
	ink := func(r image.Rectangle) (dark, coloured int) {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := rgb(img, x, y)
				lo, hi := min(c[0], c[1], c[2]), max(c[0], c[1], c[2])
				if hi < 128 {
					dark++
				}
				if hi-lo > 80 {
					coloured++
				}
			}
		}
		return
	}
	differ := func(a, c image.Rectangle) int {
		n := 0
		for y := 0; y < a.Dy(); y++ {
			for x := 0; x < a.Dx(); x++ {
				p, q := rgb(img, a.Min.X+x, a.Min.Y+y), rgb(img, c.Min.X+x, c.Min.Y+y)
				if (p[0]+p[1]+p[2])/3/64 != (q[0]+q[1]+q[2])/3/64 {
					n++
				}
			}
		}
		return n
	}
	shi, jie, party, tofu, h := cell(0), cell(1), cell(2), cell(3), cell(4)
	for name, r := range map[string]image.Rectangle{"世": shi, "界": jie, "H": h} {
		if d, _ := ink(r); d < 150 {
			t.Errorf("%s: %d dark pixels, nothing drawn", name, d)
		}
	}
	if n := differ(shi, jie); n < 300 {
		t.Errorf("世 and 界 look alike (%d pixels differ): boxes, not glyphs", n)
	}
	for name, r := range map[string]image.Rectangle{"世": shi, "界": jie} {
		if n := differ(r, tofu); n < 300 {
			t.Errorf("%s looks like a missing glyph (%d pixels differ)", name, n)
		}
	}
	if _, c := ink(party); c < 300 {
		t.Errorf("🎉: %d coloured pixels; no colour emoji font", c)
	}
	if d, c := ink(image.Rect(0, 80, 400, 140)); d < 300 || c < 100 {
		t.Errorf("the line Hello 世界 🎉: %d dark and %d coloured pixels", d, c)
	}
}

// block_ads and block_cookie_banners from the image's own filter lists and
// autoconsent rules.
func TestBlockersUseTheImagesAssets(t *testing.T) {
	b := shared(t)
	if logs := b.logs(); !strings.Contains(logs, `"event":"asset_found"`) || !strings.Contains(logs, "/usr/share/pixashot/autoconsent") {
		t.Errorf("autoconsent not found in the image's path:\n%.2000s", logs)
	}
	page := map[string]any{"url": pages.base + "/ads", "window_width": 400, "window_height": 300}
	if c := rgb(b.image(page), 200, 150); !near(c, 255, 0, 0) {
		t.Fatalf("without block_ads the ad should show: %v", c)
	}
	page["block_ads"] = true
	if c := rgb(b.image(page), 200, 150); !near(c, 255, 255, 255) {
		t.Errorf("block_ads: the ad is still there: %v", c)
	}
	tag := randomHex(6)
	img := b.image(map[string]any{"url": pages.base + "/cmp?t=" + tag, "window_width": 800, "window_height": 600, "block_cookie_banners": true})
	if c := rgb(img, 400, 200); !near(c, 255, 255, 255) {
		t.Errorf("block_cookie_banners: the dialog is still there: %v", c)
	}
	if n := pages.hit("/hit/" + tag + "/reject"); n != 1 {
		t.Errorf("the dialog was answered with reject %d times, want 1", n)
	}
}

// A batch through the embedded queue in STORAGE_DIR (under /tmp), with its
// signed webhooks.
func TestAsyncQueue(t *testing.T) {
	b := shared(t)
	pages.mu.Lock()
	before := len(pages.hooks)
	pages.mu.Unlock()
	var batch []any
	for i := range 3 {
		batch = append(batch, map[string]any{"url": pages.base + "/color?c=0000" + strconv.Itoa(10+i), "window_width": 100, "window_height": 100})
	}
	r := b.call("POST", "/captures", map[string]any{"batch": batch, "webhook_url": pages.base + "/hook"})
	if r.status != 202 {
		t.Fatalf("POST /captures: %s", r)
	}
	var accepted struct {
		BatchID string `json:"batch_id"`
	}
	json.Unmarshal(r.body, &accepted) //nolint:errcheck // checked below
	deadline := time.Now().Add(3 * (defaults.CaptureTimeout + defaults.QueueWait))
	for {
		v := b.call("GET", "/batches/"+accepted.BatchID, nil)
		var view struct {
			Status string `json:"status"`
		}
		json.Unmarshal(v.body, &view) //nolint:errcheck // the status decides
		if view.Status == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batch is not done: %s", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		pages.mu.Lock()
		n := len(pages.hooks) - before
		pages.mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	pages.mu.Lock()
	defer pages.mu.Unlock()
	if n := len(pages.hooks) - before; n != 3 {
		t.Fatalf("%d webhooks, want 3", n)
	}
	for _, h := range pages.hooks[before:] {
		if !strings.HasPrefix(h.Get("webhook-signature"), "v1,") {
			t.Errorf("an unsigned webhook: %v", h)
		}
	}
}

// imageBudgetMB is the image's size budget (docs/deployment.md): Chromium
// and its libraries, the fonts, the binary.
const imageBudgetMB = 1000

// The runtime image holds what runs and nothing of its build: no compiler,
// no package lists or downloaded packages, no shell history; and it fits its
// budget.
func TestImageHoldsNoBuildLeftovers(t *testing.T) {
	size, err := podman("image", "inspect", "--format", "{{.Size}}", imageRef)
	if err != nil {
		t.Fatal(size)
	}
	mb, _ := strconv.ParseInt(size, 10, 64)
	mb /= 1_000_000
	t.Logf("image %s: %d MB (budget %d MB)", imageRef, mb, imageBudgetMB)
	if mb == 0 || mb > imageBudgetMB {
		t.Errorf("image size %d MB; budget %d MB", mb, imageBudgetMB)
	}
	args := append(append([]string{"run", "--rm"}, runtimeArgs()...), "--entrypoint", "sh", imageRef, "-c")
	out, err := podman(append(args,
		`for c in gcc cc go node npm; do command -v $c; done; `+
			`find /var/cache/apt /var/lib/apt/lists -type f ! -name lock 2>/dev/null | head -3; `+
			`find / -xdev \( -name '.bash_history' -o -name '.sh_history' -o -name '*.deb' \) 2>/dev/null | head -3`)...)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out != "" {
		t.Errorf("left in the image:\n%s", out)
	}
}
