package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/browser"
)

// The review's wedge: a PDF of 20000 pages that cannot finish in time.
// Chrome's browser process can then stop answering for minutes while it
// runs; the prober ends it and a new one serves, so a plain capture right
// after the 504 succeeds within one capture's time (CAPTURE_TIMEOUT), and
// liveness stays up.
func TestOneRequestCannotWedgeTheBrowser(t *testing.T) {
	e := own(t, nil)
	for round := range 2 {
		r := e.capture(t, opts{"html_content": "<p>x</p>", "format": "pdf", "wait_for_timeout": 15000,
			"custom_js": `let h="";for(let i=0;i<20000;i++){h+="<div style=\"page-break-after:always\">page "+i+"</div>"} document.body.innerHTML=h; 1`})
		// 504 when its time ran out first; 503 when the browser it kept
		// from answering was ended under it.
		if r.status != 504 && r.status != 503 {
			t.Errorf("round %d, the PDF bomb: %d %s", round, r.status, r.body)
		}
		start := time.Now()
		r = e.capture(t, opts{"url": e.page + "/color?c=00ff00", "window_width": 20, "window_height": 20})
		if r.status != 200 {
			t.Fatalf("round %d, a plain capture after the bomb: %d %s", round, r.status, r.body)
		}
		t.Logf("round %d: the next capture answered in %v", round, time.Since(start))
		if live := e.do(t, "GET", "/health/live", nil); live.status != 200 {
			t.Fatalf("liveness: %d", live.status)
		}
	}
	if !e.app.Browsers.Alive() {
		t.Errorf("no browser answered in the last %v", browser.UnusableFor)
	}
	t.Logf("browser_unresponsive events: %d", strings.Count(e.logs.String(), `"event":"browser_unresponsive"`))
}
