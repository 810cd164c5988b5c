package main

import (
	"fmt"
	"log"

	"github.com/pixashot/pixashot-cloudrun/internal/egress/egresstest"
)

// benchProxy measures what a client's proxy costs the instance: one
// instance, the many-site workload captured directly and through a loopback
// HTTP and SOCKS5 proxy with credentials, in turns (the sites are plain
// http: absolute-form requests to the HTTP proxy, tunnels through SOCKS5). The proxies
// run in this process: their CPU is the proxy's, not the instance's, and is
// left out; the latency includes their hop.
func benchProxy(bin, chrome, pages string, sites []string, next func() string, runs int) {
	const host = "127.0.0.3"
	o := egresstest.ProxyOptions{Listen: host + ":0", User: "bench", Password: randomToken()}
	httpPx, err := egresstest.StartHTTPProxy(o)
	if err != nil {
		log.Fatal(err)
	}
	defer httpPx.Close()
	socksPx, err := egresstest.StartSOCKS5Proxy(o)
	if err != nil {
		log.Fatal(err)
	}
	defer socksPx.Close()
	svc := startService(bin, chrome, pages, sites, "EGRESS_ALLOW_CIDRS=127.0.0.2/32,127.0.0.16/28,"+host+"/32")
	defer svc.stop()
	subjects := []*subject{
		{name: "direct (the guard dials)", svc: svc},
		{name: "through an HTTP proxy", svc: svc, opts: map[string]any{"proxy": httpPx.URL}},
		{name: "through a SOCKS5 proxy", svc: svc, opts: map[string]any{"proxy": socksPx.URL}},
	}
	log.Printf("proxy: one instance, %d captures each way in rounds of 5...", runs*2)
	n := inTurnsOf5(subjects, runs, next)
	fmt.Printf("\nproxy cost: the many-site workload, %.0f captures each way back to back, in turns of 5 (the instance's CPU; the proxies' own is not in it)\n", n)
	printTurns(subjects, n)
	fmt.Printf("(requests the HTTP proxy forwarded: %d; tunnels the SOCKS5 proxy opened: %d)\n", len(httpPx.Targets()), len(socksPx.Targets()))
}
