package e2e

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// bomb allocates 4 GB in one tight loop of 10 MB ArrayBuffers, which live
// outside V8's heap: no JavaScript heap limit stops it.
const bomb = `const a=[];for(let i=0;i<400;i++){a.push(new Uint8Array(10*1024*1024).fill(i))} a.length`

// pss is the proportional set size of this process (the service runs in
// it) and of every process below it (Chrome), from the kernel's own count.
func pss() int64 {
	var total int64
	for _, pid := range append([]int{os.Getpid()}, procstat.Descendants(os.Getpid())...) {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += kb << 10
				break
			}
		}
		f.Close()
	}
	return total
}

// The review's memory bomb, alone and four at once beside another client's
// capture: the instance stays under INSTANCE_MEMORY_MB (PSS of every
// process sampled every 50 ms), the bombs fail fast with their error, the
// other client's capture succeeds, and the service keeps serving.
func TestInstanceMemoryBudget(t *testing.T) {
	const budget = 1024
	e := own(t, func(c *config.Config) { c.InstanceMB = budget })
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if p := pss(); p > peak.Load() {
				peak.Store(p)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() {
		close(stop)
		<-sampled
		t.Logf("peak PSS %d MB (budget %d MB)", peak.Load()>>20, budget)
		if peak.Load() > budget<<20 {
			t.Errorf("the instance reached %d MB, over its budget of %d MB", peak.Load()>>20, budget)
		}
	}()
	failsFast := func(r result, took time.Duration) {
		t.Helper()
		// Ended by the watchdog (502), or, on a machine so loaded that the
		// bomb grows slower than its script's own bound, by wait_for_timeout
		// (504): either way within its bounds, and the budget held.
		switch m := r.errorJSON(t); {
		case r.status == 502 && m["error_type"] == "NavigationError":
		case r.status == 504 && m["error_type"] == "CaptureTimeout" && strings.Contains(m["message"].(string), "custom_js"):
		default:
			t.Errorf("a bomb answered %d %s", r.status, r.body)
		}
		// Ended by the watchdog, not by the suite's CAPTURE_TIMEOUT (20 s);
		// how much sooner depends on the machine's load.
		if took >= 20*time.Second {
			t.Errorf("a bomb answered after %v, at the capture deadline", took)
		}
	}
	start := time.Now()
	failsFast(e.capture(t, opts{"html_content": "<p>x</p>", "custom_js": bomb}), time.Since(start))

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			start := time.Now()
			failsFast(e.capture(t, opts{"html_content": "<p>x</p>", "custom_js": bomb}), time.Since(start))
		})
	}
	time.Sleep(200 * time.Millisecond)
	if r := e.asOther(t, map[string]string{"url": e.page + "/color?c=00ff00", "window_width": "20", "window_height": "20"}); r.status != 200 {
		t.Errorf("another client's capture beside the bombs: %d %s", r.status, r.body)
	}
	wg.Wait()
	if !strings.Contains(e.logs.String(), `"limit":"instance"`) {
		t.Error("no renderer was ended for the instance's budget")
	}
	if r := e.capture(t, opts{"url": e.page + "/color?c=00ff00", "window_width": 20, "window_height": 20}); r.status != 200 {
		t.Fatalf("after the bombs: %d %s", r.status, r.body)
	}
}
