package main

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/audit/fakelogging"
	"github.com/pixashot/pixashot-cloudrun/internal/telemetry/faketelemetry"
)

// benchTelemetry measures what metrics and traces cost: three instances side
// by side (no exporter; gcp to in-process stand-ins, every request traced and
// metrics sent every second, sixty times production's rate; prometheus,
// its page read every second), the same captures in turns, CPU per capture
// of each instance's own processes (the service and its Chrome: the
// stand-ins' work is Google's, not the instance's).
func benchTelemetry(bin, chrome, pages string, sites []string, next func() string, runs int) {
	stand, err := faketelemetry.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer stand.Stop()
	logs, err := fakelogging.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer logs.Stop()
	// The audit trail goes to Cloud Logging in every instance alike: only
	// the exporter differs.
	common := []string{"AUDIT_PROJECT=bench-proj", "LOGGING_ENDPOINT=" + logs.Addr}
	metricsToken := randomToken()
	subjects := []struct {
		name string
		env  []string
		svc  *service
		cpu  float64 // the instance's processes, ms
		goMS float64 // of which the service's own Go process
		lat  []time.Duration
	}{
		{name: "no exporter"},
		{name: "gcp: 1 s metrics, every request traced", env: []string{"METRICS_EXPORTER=gcp", "MONITORING_ENDPOINT=" + stand.Addr,
			"TRACE_ENDPOINT=" + stand.Addr, "METRICS_INTERVAL=1s", "TRACE_SAMPLE_RATIO=1"}},
		{name: "prometheus: page read every 1 s", env: []string{"METRICS_EXPORTER=prometheus", "METRICS_TOKEN=" + metricsToken}},
	}
	log.Printf("telemetry: %d instances side by side, %d captures each in rounds of 5...", len(subjects), runs*2)
	for i := range subjects {
		subjects[i].svc = startService(bin, chrome, pages, sites, append(common, subjects[i].env...)...)
		defer subjects[i].svc.stop()
	}
	scrape := time.NewTicker(time.Second)
	defer scrape.Stop()
	go func() {
		for range scrape.C {
			req, _ := http.NewRequest(http.MethodGet, subjects[2].svc.base+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+metricsToken)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	for _, s := range subjects {
		for range 3 {
			s.svc.capture(next()) //nolint:errcheck // warm-up
		}
	}
	const round = 5
	for r := 0; r < 2*runs/round; r++ {
		for k := range subjects {
			// Each round starts with another instance: none is always
			// measured first after the others' disposal.
			s := &subjects[(k+r)%len(subjects)]
			c0 := snapCPU(s.svc.cmd.Process.Pid)
			s.lat = append(s.lat, series(s.name, round, 0, func() error { return s.svc.capture(next()) })...)
			time.Sleep(200 * time.Millisecond) // the last tab's disposal
			u := c0.per(snapCPU(s.svc.cmd.Process.Pid), round)
			s.cpu += (u.total - u.roles["rest"]) * round
			s.goMS += u.roles["Go"] * round
		}
	}
	n := float64(2 * runs / round * round)
	fmt.Printf("\ntelemetry cost: the many-site workload, %.0f captures per instance back to back, in turns of %d\n", n, round)
	fmt.Printf("%-42s %18s %10s %14s %10s %12s\n", "", "CPU/capture (ms)", "× off", "of it Go (ms)", "× off", "median")
	base, baseGo := subjects[0].cpu/n, subjects[0].goMS/n
	for _, s := range subjects {
		fmt.Printf("%-42s %18.1f %10.3f %14.1f %10.3f %12s\n", s.name, s.cpu/n, s.cpu/n/base, s.goMS/n, s.goMS/n/baseGo, ms(median(s.lat)))
	}
	fmt.Printf("(spans written: %d; series points: %d)\n", len(stand.Spans()), len(stand.Series()))
}

func randomToken() string { return fmt.Sprintf("bench-metrics-%d-token", time.Now().UnixNano()) }
