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
	subjects := []*subject{
		{name: "no exporter"},
		{name: "gcp: 1 s metrics, every request traced", env: []string{"METRICS_EXPORTER=gcp", "MONITORING_ENDPOINT=" + stand.Addr,
			"TRACE_ENDPOINT=" + stand.Addr, "METRICS_INTERVAL=1s", "TRACE_SAMPLE_RATIO=1"}},
		{name: "prometheus: page read every 1 s", env: []string{"METRICS_EXPORTER=prometheus", "METRICS_TOKEN=" + metricsToken}},
	}
	log.Printf("telemetry: %d instances side by side, %d captures each in rounds of 5...", len(subjects), runs*2)
	for _, s := range subjects {
		s.svc = startService(bin, chrome, pages, sites, append(common, s.env...)...)
		defer s.svc.stop()
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
	n := inTurnsOf5(subjects, runs, next)
	fmt.Printf("\ntelemetry cost: the many-site workload, %.0f captures per instance back to back, in turns of 5\n", n)
	printTurns(subjects, n)
	fmt.Printf("(spans written: %d; series points: %d)\n", len(stand.Spans()), len(stand.Series()))
}

func randomToken() string { return fmt.Sprintf("bench-metrics-%d-token", time.Now().UnixNano()) }
