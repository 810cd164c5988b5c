package main

import (
	"fmt"
	"log"
	"slices"
	"time"
)

// coldStarts starts the service n times, one after another, and reports
// the median and the spread of the time to its first capture: one start
// says little on a machine that drifts (1.49 s once, 0.54 s as a median of
// ten, on one day).
func coldStarts(bin, chrome, pages string, sites []string, n int) {
	log.Printf("cold start: %d starts one after another...", n)
	var d []time.Duration
	for range n {
		s := startService(bin, chrome, pages, sites)
		d = append(d, s.cold)
		s.stop()
	}
	slices.Sort(d)
	fmt.Printf("\n%-34s %9.2f s median of %d (min %.2f s, max %.2f s; Go's package init %.0f ms)\n",
		"cold start to first capture", median(d).Seconds(), n, d[0].Seconds(), d[len(d)-1].Seconds(), goInit(bin))
}
