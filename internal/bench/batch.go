package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"
)

// benchBatch compares a batch of n asynchronous captures (POST /captures,
// the embedded queue, done when GET /batches says so) with the same n
// captures sent synchronously by as many clients at once as the service has
// capture slots, both stored (response_type url), on the many-site workload.
func benchBatch(svc *service, next func() string, n, slots int) {
	log.Printf("batch: %d captures synchronously at c=%d, then as one async batch...", n, slots)
	sync := throughput(slots, n, svc.cmd.Process.Pid, func() error {
		status, b, err := svc.send(http.MethodPost, "/capture", map[string]any{"url": next(), "response_type": "url"})
		if err == nil && status != http.StatusCreated {
			err = fmt.Errorf("status %d: %.200s", status, b)
		}
		return err
	})
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"url": next()}
	}
	c0, start := snapCPU(svc.cmd.Process.Pid), time.Now()
	status, b, err := svc.send(http.MethodPost, "/captures", map[string]any{"batch": items})
	var acc struct {
		BatchID string `json:"batch_id"`
	}
	if err != nil || status != http.StatusAccepted || json.Unmarshal(b, &acc) != nil {
		log.Printf("batch: POST /captures: %d %v %.200s", status, err, b)
		return
	}
	accepted := time.Since(start)
	var view struct {
		Status string         `json:"status"`
		Counts map[string]int `json:"counts"`
	}
	for view.Status != "done" && time.Since(start) < 10*time.Minute {
		time.Sleep(50 * time.Millisecond)
		if _, b, err := svc.send(http.MethodGet, "/batches/"+acc.BatchID, nil); err == nil {
			json.Unmarshal(b, &view) //nolint:errcheck // polled until done
		}
	}
	took := time.Since(start)
	async := rate{perSecond: float64(n) / took.Seconds(), errors: int64(view.Counts["failed"]), cpu: c0.per(snapCPU(svc.cmd.Process.Pid), n)}
	fmt.Printf("\nbatch throughput: %d captures of the many-site workload, stored (response_type url)\n", n)
	fmt.Printf("%-46s %12s %10s %17s\n", "", "captures/s", "× sync", "CPU/capture (ms)")
	fmt.Printf("%-46s %12s %10.2f %17.0f\n", fmt.Sprintf("synchronous POST /capture, c=%d", slots), sync, 1.0, sync.cpu.total)
	fmt.Printf("%-46s %12s %10.2f %17.0f\n", fmt.Sprintf("one POST /captures batch (202 in %s)", ms(accepted)), async,
		async.perSecond/sync.perSecond, async.cpu.total)
}

// send is one authenticated request with a JSON body (nil: none).
func (s *service) send(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
