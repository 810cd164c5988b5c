package capture

import (
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// The output step's bound grows with what the image may hold: a hung
// renderer on a viewport still answers in about minOutputTime, a 64 MP full
// page gets the time to paint and encode it on a busy instance.
func TestOutputTimeGrowsWithThePixels(t *testing.T) {
	lim := Limits{MaxPixels: 64_000_000}
	vp := &options.Options{WindowWidth: 1280, WindowHeight: 720, PixelDensity: 1, WaitForTimeout: time.Second}
	if d := outputTime(vp, lim); d < minOutputTime || d > minOutputTime+time.Second/2 {
		t.Errorf("a 0.9 MP viewport: %v", d)
	}
	full := *vp
	full.FullPage, full.PixelDensity = true, 2
	if d := outputTime(&full, lim); d != minOutputTime+64*outputTimePerMP {
		t.Errorf("a full page up to 64 MP: %v", d)
	}
	long := *vp
	long.WaitForTimeout = 30 * time.Second
	if d := outputTime(&long, lim); d < 30*time.Second || d > 31*time.Second {
		t.Errorf("wait_for_timeout 30 s: %v", d)
	}
}
