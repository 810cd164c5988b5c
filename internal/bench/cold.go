package main

import (
	"fmt"
	"log"
	"slices"
	"time"
)

// coldStarts starts the service n times, in turns with plain chromedp doing
// the same from nothing (start Chrome, open a new context and tab, capture
// the page), and reports the median and the spread of each one's time to
// its first capture, and their ratio: one start says little on a machine
// that drifts (1.49 s once, 0.54 s as a median of ten, on one day; 1.18 s
// on another), a ratio within one run says what the service adds.
func coldStarts(bin, chrome, pages string, sites []string, n int) {
	log.Printf("cold start: %d starts of the service and of plain chromedp, in turns...", n)
	var svc, plain []time.Duration
	for range n {
		s := startService(bin, chrome, pages, sites)
		svc = append(svc, s.cold)
		s.stop()
		plain = append(plain, plainColdStart(chrome, pages+"/page"))
	}
	slices.Sort(svc)
	slices.Sort(plain)
	fmt.Printf("\n%-34s %9.2f s median of %d (min %.2f s, max %.2f s; Go's package init %.0f ms)\n",
		"cold start to first capture", median(svc).Seconds(), n, svc[0].Seconds(), svc[len(svc)-1].Seconds(), goInit(bin))
	fmt.Printf("%-34s %9.2f s median (min %.2f s, max %.2f s)\n",
		"plain chromedp, in turns", median(plain).Seconds(), plain[0].Seconds(), plain[len(plain)-1].Seconds())
	fmt.Printf("%-34s %9.2f\n", "service ÷ plain chromedp", median(svc).Seconds()/median(plain).Seconds())
}

// plainColdStart is what a user of plain chromedp waits from nothing to a
// first isolated capture: Chrome started, a new incognito context and tab,
// the page's PNG.
func plainColdStart(chrome, url string) time.Duration {
	start := time.Now()
	ctx, _, stop := launchChrome(chrome)
	defer stop()
	if _, err := shootInNewContext(ctx, url, false); err != nil {
		log.Fatalf("plain chromedp cold start: %v", err)
	}
	return time.Since(start)
}
