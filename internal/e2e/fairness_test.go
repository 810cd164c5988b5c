package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/signing"
)

// fair is an instance of 4 slots with the default share (2) and queue (8).
func fair(t *testing.T) *env {
	return own(t, func(c *config.Config) { c.MaxConcurrency, c.QueueSize, c.ClientMaxConc = 4, 8, 2 })
}

// asOther captures as the client "other", through a URL signed for it.
func (e *env) asOther(t *testing.T, params map[string]string) result {
	t.Helper()
	params["client"] = "other"
	q, err := signing.New([]byte(e.signingKey)).Query(params, time.Now().Add(time.Minute))
	if err != nil {
		t.Error(err)
		return result{}
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get(e.svc.URL + "/capture?" + q.Encode())
	if err != nil {
		t.Error(err)
		return result{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

// A lone client on an idle instance is never refused a slot the instance
// has: 3, then 8, at once on 4 slots all answer 200 (the queue holds the
// rest within QUEUE_WAIT).
func TestOneClientUsesEverySlot(t *testing.T) {
	e := fair(t)
	for _, n := range []int{3, 8} {
		var wg sync.WaitGroup
		codes := make([]int, n)
		for i := range n {
			wg.Go(func() {
				codes[i] = e.capture(t, opts{"url": e.page + "/color?c=ff0000", "window_width": 20, "window_height": 20,
					"delay_capture": 1000}).status
			})
		}
		wg.Wait()
		for i, c := range codes {
			if c != 200 {
				t.Fatalf("%d at once: capture %d answered %d (all: %v)", n, i, c, codes)
			}
		}
	}
}

// A sends 8 slow captures (4 run, 4 queue); B's 2 then take the next slots
// that free, ahead of A's queued ones, and are never refused for a share.
func TestSecondClientGetsTheNextSlots(t *testing.T) {
	e := fair(t)
	var mu sync.Mutex
	var aDone []time.Time
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			r := e.capture(t, opts{"url": e.page + "/color?c=ff0000", "window_width": 20, "window_height": 20, "delay_capture": 3000})
			if r.status != 200 {
				t.Errorf("A: %d %s", r.status, r.body)
			}
			mu.Lock()
			aDone = append(aDone, time.Now())
			mu.Unlock()
		})
	}
	poll.Within(t, 30*time.Second, "A's 4 running and 4 queued", func() bool {
		return e.app.Gate.InUse() == 4 && e.app.Gate.Waiting() == 4
	})
	bDone := make([]time.Time, 2)
	var bw sync.WaitGroup
	for i := range 2 {
		bw.Go(func() {
			r := e.asOther(t, map[string]string{"url": e.page + "/color?c=00ff00", "window_width": "20", "window_height": "20"})
			if r.status != 200 {
				t.Errorf("B: %d %s", r.status, r.body)
			}
			bDone[i] = time.Now()
		})
	}
	bw.Wait()
	wg.Wait()
	sort.Slice(aDone, func(i, j int) bool { return aDone[i].Before(aDone[j]) })
	// A's queued captures end at the earliest 3 s after A's first ends; B
	// must have had the slots A's first four gave back.
	for i, d := range bDone {
		if !d.Before(aDone[4]) {
			t.Errorf("B's capture %d ended %s after A's fifth: it waited behind A's queue", i, d.Sub(aDone[4]))
		}
	}
}

// A batch of 100 beside a synchronous client: the synchronous client never
// waits for one of the batch's captures to end (its wait for a slot, in
// Server-Timing, stays near zero), its median stays below what waiting
// behind the batch would cost, its figures are reported, and the batch runs
// meanwhile.
func TestBatchBesideSynchronousClient(t *testing.T) {
	e := fair(t)
	type stats struct{ median, p95, maxQueue time.Duration }
	sample := func(n int) stats {
		var d []time.Duration
		var st stats
		for range n {
			start := time.Now()
			r := e.asOther(t, map[string]string{"html_content": "<p>x</p>", "window_width": "64", "window_height": "48"})
			if r.status != 200 {
				t.Errorf("sync: %d %s", r.status, r.body)
			}
			d = append(d, time.Since(start))
			var ms float64
			if _, err := fmt.Sscanf(r.header.Get("Server-Timing"), "queue;dur=%g", &ms); err != nil {
				t.Errorf("Server-Timing %q: %v", r.header.Get("Server-Timing"), err)
			}
			st.maxQueue = max(st.maxQueue, time.Duration(ms*float64(time.Millisecond)))
			time.Sleep(300 * time.Millisecond) // the warm tab refills, as between real requests
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		st.median, st.p95 = d[len(d)/2], d[len(d)*95/100]
		return st
	}
	const batchDelay = 1500 * time.Millisecond
	sample(3) // warm
	solo := sample(20)
	var batch []map[string]any
	for range 100 {
		// Mostly waiting, like real pages: what is measured is who gets
		// a slot, not how two cores share CPU.
		batch = append(batch, map[string]any{"html_content": "<p>batch</p>", "window_width": 64, "window_height": 48, "delay_capture": batchDelay.Milliseconds()})
	}
	r := e.do(t, "POST", "/captures", map[string]any{"batch": batch})
	if r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var acc struct {
		BatchID string `json:"batch_id"`
	}
	json.Unmarshal(r.body, &acc) //nolint:errcheck // checked below
	poll.Within(t, 30*time.Second, "the batch at full width", func() bool { return e.app.Gate.InUse() == 4 })
	beside := sample(20)
	t.Logf("sync alone: median %v, p95 %v; beside the batch: median %v, p95 %v, longest wait for a slot %v",
		solo.median, solo.p95, beside.median, beside.p95, beside.maxQueue)
	// The first request may find all four slots the batch's: it waits for
	// one to end (at most its delay_capture and its work), and from then on
	// the batch leaves it the last slot.
	if beside.maxQueue >= 2*batchDelay {
		t.Errorf("a synchronous request waited %v for a slot beside the batch", beside.maxQueue)
	}
	// What is left is the CPU shared with three of the batch's tabs (about
	// 1.5x on a quiet machine, more on a busy one: not asserted, a benchmark's
	// business); waiting behind the batch would cost a batch capture's
	// delay_capture a request.
	if beside.median >= batchDelay {
		t.Errorf("beside a batch of 100 the synchronous median is %v (%v alone): it waits behind the batch", beside.median, solo.median)
	}
	// The batch went on meanwhile (what is left ends with the instance).
	r = e.do(t, "GET", "/batches/"+acc.BatchID, nil)
	var b struct {
		Counts map[string]int `json:"counts"`
	}
	if json.Unmarshal(r.body, &b) != nil || b.Counts["done"] < 10 {
		t.Errorf("the batch beside the synchronous client: %d %v", r.status, b.Counts)
	}
}

// The review's attack: a batch whose webhook receiver hangs. Deliveries go
// out from their own workers, at most two of one client's at once, so the
// capture workers stay free: the next job runs at once. (That a failed
// delivery's log line holds no query string is TestWebhookLogHasNoSecret.)
func TestHangingWebhooksHoldNoCaptureWorker(t *testing.T) {
	e := own(t, func(c *config.Config) { c.MaxConcurrency = 2 })
	secret := "SUPERSECRET" + randomHex(8)
	var batch []map[string]any
	for range 8 {
		batch = append(batch, map[string]any{"html_content": "<p>x</p>", "window_width": 64, "window_height": 48})
	}
	if r := e.do(t, "POST", "/captures", map[string]any{"batch": batch, "webhook_url": e.page + "/hang?token=" + secret}); r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	poll.Within(t, 60*time.Second, "two deliveries hanging", func() bool { return e.hitCount("/hang") >= 2 })
	start := time.Now()
	r := e.do(t, "POST", "/captures", map[string]any{"html_content": "<p>next</p>", "window_width": 64, "window_height": 48})
	var acc struct{ ID string }
	if json.Unmarshal(r.body, &acc) != nil || r.status != 202 {
		t.Fatalf("the next job: %d %s", r.status, r.body)
	}
	// A hanging delivery holds its worker for the webhook's 15 s timeout a
	// try: the next job must not wait for one.
	poll.Within(t, 60*time.Second, "the next job done", func() bool {
		var j struct{ Status string }
		json.Unmarshal(e.do(t, "GET", "/captures/"+acc.ID, nil).body, &j) //nolint:errcheck // not done until it parses
		return j.Status == "done"
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the next job took %v beside 8 hanging webhooks", d)
	}
	if n := e.hitCount("/hang"); n != 2 {
		t.Errorf("%d deliveries of one client in flight, want its cap of 2", n)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Error("the webhook's query string reached the log")
	}
}
