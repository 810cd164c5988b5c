package main

import (
	"fmt"
	"log"
	"time"
)

// subject is one way of capturing measured in turns with others: an
// instance (svc) and the options its captures carry.
type subject struct {
	name string
	env  []string       // the instance's own settings, where each subject has one
	opts map[string]any // added to every capture
	svc  *service
	cpu  float64 // the instance's processes, ms
	goMS float64 // of which the service's own Go process
	lat  []time.Duration
}

// inTurnsOf5 runs 2×runs captures of each subject in rounds of 5, each
// round starting with another subject, so none is always measured first
// after the others' disposal; the CPU is the instance's own processes'.
// It returns the captures per subject.
func inTurnsOf5(subjects []*subject, runs int, next func() string) float64 {
	for _, s := range subjects {
		for range 3 {
			s.svc.captureWith(next(), s.opts) //nolint:errcheck // warm-up
		}
	}
	const round = 5
	for r := 0; r < 2*runs/round; r++ {
		for k := range subjects {
			s := subjects[(k+r)%len(subjects)]
			c0 := snapCPU(s.svc.cmd.Process.Pid)
			s.lat = append(s.lat, series(s.name, round, 0, func() error { return s.svc.captureWith(next(), s.opts) })...)
			time.Sleep(200 * time.Millisecond) // the last tab's disposal
			u := c0.per(snapCPU(s.svc.cmd.Process.Pid), round)
			s.cpu += (u.total - u.roles["rest"]) * round
			s.goMS += u.roles["Go"] * round
		}
	}
	return float64(2 * runs / round * round)
}

// printTurns prints each subject against the first.
func printTurns(subjects []*subject, n float64) {
	fmt.Printf("%-42s %18s %10s %14s %10s %12s\n", "", "CPU/capture (ms)", "× first", "of it Go (ms)", "× first", "median")
	base, baseGo := subjects[0].cpu/n, subjects[0].goMS/n
	for _, s := range subjects {
		fmt.Printf("%-42s %18.1f %10.3f %14.1f %10.3f %12s\n", s.name, s.cpu/n, s.cpu/n/base, s.goMS/n, s.goMS/n/baseGo, ms(median(s.lat)))
	}
}

// benchAB measures the service against another build of it (-ab), both up
// side by side, the same heavy pages in turns of 5: a change's before and
// after from one run.
func benchAB(bin, other, chrome, pages string, sites []string, next func() string, runs int) {
	subjects := []*subject{{name: "before: " + other}, {name: "after: " + bin}}
	for i, b := range []string{other, bin} {
		subjects[i].svc = startService(b, chrome, pages, sites)
		defer subjects[i].svc.stop()
	}
	log.Printf("a/b: two builds, %d captures each in rounds of 5...", runs*2)
	n := inTurnsOf5(subjects, runs, next)
	fmt.Printf("\na/b: the heavy pages, %.0f captures per build back to back, in turns of 5\n", n)
	printTurns(subjects, n)
}
