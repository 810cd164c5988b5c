package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
)

// The playground in a browser of its own (not the service's): the form is
// built from /openapi.json, a capture shows the image at the size asked for,
// and an error shows the service's message. PLAYGROUND_SCREENSHOT=path saves
// what the page looks like after the capture (docs/playground.png).
func TestPlayground(t *testing.T) {
	e := shared
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(config.FindChrome(os.Getenv)),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, time.Minute)
	defer cancelT()

	target := e.page + "/color?c=00ff00"
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 860),
		chromedp.Navigate(e.svc.URL+"/"),
		// Built from the document: the field exists only if the script ran.
		chromedp.WaitVisible(chromedp.ID("opt-window_width")),
		chromedp.SendKeys(chromedp.ID("token"), e.token),
		chromedp.SendKeys(chromedp.ID("url"), target),
		chromedp.SendKeys(chromedp.ID("opt-window_width"), "640"),
		chromedp.SendKeys(chromedp.ID("opt-window_height"), "400"),
		chromedp.Click(chromedp.ID("capture")),
	); err != nil {
		t.Fatal(err)
	}
	size, err := chromedp.Run(ctx, chromedp.Poll[[]int](
		`(() => { const i = document.querySelector("img#shot"); return i && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : (document.getElementById("error").hidden ? null : [-1, -1]); })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(size) != 2 || size[0] != 640 || size[1] != 400 {
		msg, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("error")))
		t.Fatalf("the image is %v, want 640×400 (error box: %q)", size, msg)
	}
	status, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("status")))
	curl, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("curl")))
	if !strings.Contains(status, "640×400") || !strings.Contains(status, "image/png") {
		t.Errorf("status line %q", status)
	}
	if !strings.Contains(curl, `"window_width":640`) || !strings.Contains(curl, target) || strings.Contains(curl, e.token) ||
		!strings.Contains(curl, e.svc.URL+"/capture") {
		t.Errorf("the curl line: %q", curl)
	}
	// The style sheet applied: its own CSP let it load.
	bg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById("capture")).backgroundColor`))
	if bg != "rgb(37, 87, 214)" {
		t.Errorf("the playground's style sheet did not apply: %q", bg)
	}
	if path := os.Getenv("PLAYGROUND_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}

	// Watch this page: a monitor of the same options, its answer shown.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("schedule").value = ""`),
		chromedp.SendKeys(chromedp.ID("schedule"), "*/30 * * * *"),
		chromedp.Click(chromedp.ID("watch")),
	); err != nil {
		t.Fatal(err)
	}
	answer, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { const p = document.querySelector("pre#shot"); return p ? p.textContent : (document.getElementById("error").hidden ? null : document.getElementById("error").textContent); })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	var m struct {
		ID       string
		Schedule string
		Options  map[string]any
	}
	if err != nil || json.Unmarshal([]byte(answer), &m) != nil || m.Schedule != "*/30 * * * *" || m.Options["window_width"] != 640.0 {
		t.Fatalf("the monitor's answer: %q %v", answer, err)
	}
	if r := e.do(t, "DELETE", "/monitors/"+m.ID, nil); r.status != 204 {
		t.Errorf("DELETE the playground's monitor: %d %s", r.status, r.body)
	}

	// The error path: the service's own message, rendered as text.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("url").value = ""`),
		chromedp.SendKeys(chromedp.ID("url"), `http://a.test/"><img src=x onerror=alert(1)>`),
		chromedp.Click(chromedp.ID("capture")),
		chromedp.WaitVisible(chromedp.ID("error")),
	); err != nil {
		t.Fatal(err)
	}
	msg, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("error")))
	if !strings.Contains(msg, "ValidationError: url must not contain spaces, control characters or backslashes (field: url)") {
		t.Errorf("error box %q", msg)
	}
	imgs, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
	if imgs != 0 {
		t.Errorf("%d images on the page after the error", imgs)
	}
}
