package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/chromedp/chromedp"
)

// The service gives every capture a new incognito browser context and tab,
// which the floor (one reused tab) never pays. This table takes that cost
// apart in plain chromedp, with no service, guard or HTTP: one Chrome per
// way of working, captures in turns so that every row sees the machine of
// the same minutes, and each Chrome's own processes counted.

// isolationWay is one way of giving a capture its tab.
type isolationWay struct {
	name string
	// newTab opens the capture's tab: nil reuses one tab for every capture.
	newTab func(browser, shared context.Context) (context.Context, context.CancelFunc)
	fast   bool // PNG encoding optimized for speed, not size
}

var isolationWays = []isolationWay{
	{name: "one reused tab (the floor)"},
	{name: "a new tab each, one context", newTab: func(_, shared context.Context) (context.Context, context.CancelFunc) {
		return chromedp.NewContext(shared)
	}},
	{name: "a new context and tab each", newTab: newContextTab},
	{name: "the same, PNG optimizeForSpeed", newTab: newContextTab, fast: true},
}

func newContextTab(browser, _ context.Context) (context.Context, context.CancelFunc) {
	return chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
}

// isolationRow is what one way cost.
type isolationRow struct {
	way     isolationWay
	browser context.Context // its Chrome's first tab
	shared  context.Context // a tab in one incognito context, for new tabs beside it
	pid     int
	stop    func()
	times   []time.Duration
	cpu     cpuUse
	bytes   int
}

func (r *isolationRow) one(url string) error {
	var b []byte
	var err error
	if r.way.newTab == nil {
		b, err = shoot(r.browser, url, r.way.fast)
	} else {
		b, err = shootInNewTab(func() (context.Context, context.CancelFunc) { return r.way.newTab(r.browser, r.shared) }, url, r.way.fast)
	}
	r.bytes = len(b)
	return err
}

// benchIsolation measures runs captures of each way, in turns.
func benchIsolation(chrome string, next func() string, runs int) {
	log.Printf("isolation: %d captures of each way of giving a capture its tab, in turns...", runs)
	rows := make([]*isolationRow, len(isolationWays))
	for i, w := range isolationWays {
		r := &isolationRow{way: w}
		r.browser, r.pid, r.stop = launchChrome(chrome)
		defer r.stop()
		if _, err := chromedp.Run(r.browser, chromedp.EmulateViewport(1920, 1080)); err != nil {
			log.Fatalf("isolation: %v", err)
		}
		r.shared, _ = chromedp.NewContext(r.browser, chromedp.WithNewBrowserContext())
		if err := chromedp.Do(r.shared); err != nil {
			log.Fatalf("isolation: %v", err)
		}
		series(w.name, 3, 0, func() error { return r.one(next()) }) // warm-up
		rows[i] = r
	}
	pids := make([]int, len(rows))
	for i, r := range rows {
		pids[i] = r.pid
	}
	cpu := inTurnsCPU(pids, runs, func(i int) {
		r := rows[i]
		r.times = append(r.times, series(r.way.name, 1, 100*time.Millisecond, func() error { return r.one(next()) })...)
	})
	for i, r := range rows {
		r.cpu = cpu[i]
	}
	printIsolation(rows)
}

// chromeRoles are the roles of a Chrome's own tree: its root is the
// browser (through Debian's wrapper script, which spends nothing).
var chromeRoles = []string{"browser", "GPU", "renderers", "utility"}

func printIsolation(rows []*isolationRow) {
	fmt.Printf("\n== what isolation costs: plain chromedp, many sites, in turns ==\n")
	fmt.Printf("%-34s %9s", "CPU per capture (ms)", "median")
	for _, r := range chromeRoles {
		fmt.Printf(" %9s", r)
	}
	fmt.Printf(" %9s %9s %9s\n", "Chrome", "÷ first", "PNG")
	var base float64
	for i, r := range rows {
		vals, all := chromeCPU(r.cpu)
		if i == 0 {
			base = all
		}
		fmt.Printf("%-34s %9s", r.way.name, ms(median(r.times)))
		for _, v := range vals {
			fmt.Printf(" %9.0f", v)
		}
		fmt.Printf(" %9.0f %9.2f %7d B\n", all, all/base, r.bytes)
	}
}

// inTurnsCPU runs each of the Chromes of pids runs times, in turns (one
// round: turn(0), turn(1), …), and returns each one's CPU per run.
func inTurnsCPU(pids []int, runs int, turn func(i int)) []cpuUse {
	time.Sleep(time.Second)
	snaps := make([]cpuSnap, len(pids))
	for i, pid := range pids {
		snaps[i] = snapCPU(pid)
	}
	for range runs {
		for i := range pids {
			turn(i)
		}
	}
	time.Sleep(time.Second) // the last disposals, counted
	out := make([]cpuUse, len(pids))
	for i, pid := range pids {
		out[i] = snaps[i].per(snapCPU(pid), runs)
	}
	return out
}

// chromeCPU is a Chrome's CPU by chromeRoles, and all of it. The root of
// the tree is counted as "Go" by snapCPU; for a Chrome it is the wrapper
// script or Chrome itself, so it goes to browser.
func chromeCPU(u cpuUse) (vals []float64, all float64) {
	vals = make([]float64, len(chromeRoles))
	for j, role := range chromeRoles {
		vals[j] = u.roles[role]
		if role == "browser" {
			vals[j] += u.roles["Go"]
		}
		all += vals[j]
	}
	return vals, all
}
