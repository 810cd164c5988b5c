package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/browser"
	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
)

// The levers of issue 38, each an A/B against the isolated floor (plain
// chromedp, a new incognito context and tab per capture) on the heavy
// pages, in turns: one Chrome per lever, the same URL for every lever in a
// round, and each Chrome's own processes counted. A lever is worth taking
// into the service only if its output is the baseline's (the last column:
// pixelmatch's mismatch against the baseline's capture of the same URL).

type lever struct {
	name  string
	flags []chromedp.ExecAllocatorOption
	fast  bool // PNG optimizeForSpeed
	// guarded sends each capture's context through a session of the
	// service's egress guard, as the service does: what proxying every
	// request costs Chrome (the guard's own CPU is the benchmark's).
	guarded bool
	// The service's own per-tab work: its Fetch patterns, its network-idle
	// wait.
	intercept, waits bool
	// hardened starts Chrome with the service's own flags (a session of the
	// guard as the browser's proxy), captures guarded as the service's.
	hardened bool
	// domainsOff turns off the DOM and CSS domains chromedp enables on
	// every tab (the events they send, the agents' own bookkeeping).
	domainsOff bool
}

// featuresOff are Chrome features a capture never uses.
const featuresOff = "Translate,OptimizationHints,OptimizationGuideModelDownloading,MediaRouter,DialMediaRouteProvider," +
	"BackForwardCache,Prerender2,InterestFeedContentSuggestions,CalculateNativeWinOcclusion,AutofillServerCommunication"

var levers = []lever{
	{name: "baseline: new context + tab"},
	{name: "--in-process-gpu", flags: []chromedp.ExecAllocatorOption{chromedp.Flag("in-process-gpu", true)}},
	{name: "--disable-gpu-compositing", flags: []chromedp.ExecAllocatorOption{chromedp.Flag("disable-gpu-compositing", true)}},
	{name: "features a capture never uses off", flags: []chromedp.ExecAllocatorOption{chromedp.Flag("disable-features", featuresOff)}},
	{name: "frames share a renderer (no SI)", flags: []chromedp.ExecAllocatorOption{chromedp.Flag("disable-site-isolation-trials", true)}},
	{name: "PNG optimizeForSpeed", fast: true},
	{name: "through the egress guard", guarded: true},
	{name: "+ the service's Fetch patterns", intercept: true},
	{name: "+ the service's network-idle wait", waits: true},
	{name: "+ the service's flags, guarded", guarded: true, hardened: true},
	{name: "chromedp's DOM and CSS domains off", domainsOff: true},
}

type leverRow struct {
	lever
	guard   *egress.Guard
	browser context.Context
	pid     int
	stop    func()
	times   []time.Duration
	cpu     cpuUse
	bytes   int
	shot    []byte // the capture of the comparison URL
	again   int    // captures the network-idle wait took twice
}

func (r *leverRow) one(url string) ([]byte, error) {
	var opts []func(*target.CreateBrowserContextParams)
	if r.guard != nil {
		sess, err := r.guard.Open("bench")
		if err != nil {
			return nil, err
		}
		defer sess.Close()
		opts = append(opts, func(p *target.CreateBrowserContextParams) {
			p.ProxyServer, p.ProxyBypassList = sess.ProxyURL(), "<-loopback>"
		})
	}
	open := func() (context.Context, context.CancelFunc) {
		return chromedp.NewContext(r.browser, chromedp.WithNewBrowserContext(opts...))
	}
	return inNewTab(open, func(ctx context.Context) ([]byte, error) {
		if r.domainsOff {
			if err := domainsOff(ctx); err != nil {
				return nil, err
			}
		}
		if r.intercept {
			if err := interceptAsTheService(ctx); err != nil {
				return nil, err
			}
		}
		if !r.waits {
			return shoot(ctx, url, r.fast)
		}
		b, again, err := shootAsTheServiceWaits(ctx, url, r.fast)
		if again {
			r.again++
		}
		return b, err
	})
}

// benchLevers measures runs captures of each lever, in turns, on next's URLs.
func benchLevers(chrome string, next func() string, runs int) {
	log.Printf("levers: %d captures of each, in turns, on the heavy pages...", runs)
	rows := make([]*leverRow, len(levers))
	for i, l := range levers {
		r := &leverRow{lever: l}
		if l.guarded {
			port, _ := strconv.Atoi(heavyPort)
			r.guard = egress.New(egress.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix(heavyCIDR)}, AllowPorts: []int{port},
				Logger: slog.New(slog.DiscardHandler)})
		}
		flags := l.flags
		if l.hardened {
			def, err := r.guard.Open("default-context")
			if err != nil {
				log.Fatal(err)
			}
			defer def.Close()
			flags = slices.Concat(flags, browser.Hardening(def.ProxyURL()))
		}
		r.browser, r.pid, r.stop = launchChrome(chrome, flags...)
		defer r.stop()
		series(l.name, 3, 0, func() error { _, err := r.one(next()); return err }) // warm-up
		r.again = 0
		rows[i] = r
	}
	pids := make([]int, len(rows))
	for i, r := range rows {
		pids[i] = r.pid
	}
	var url string
	cpu := inTurnsCPU(pids, runs, func(i int) {
		if i == 0 {
			url = next() // one URL for every lever in a round
		}
		r := rows[i]
		r.times = append(r.times, series(r.name, 1, 100*time.Millisecond, func() error {
			b, err := r.one(url)
			r.bytes, r.shot = len(b), b
			return err
		})...)
	})
	for i, r := range rows {
		r.cpu = cpu[i]
	}
	printLevers(rows)
}

func printLevers(rows []*leverRow) {
	fmt.Printf("\n== levers: plain chromedp, a new context and tab each, heavy pages, in turns ==\n")
	fmt.Printf("%-34s %9s", "CPU per capture (ms)", "median")
	for _, r := range chromeRoles {
		fmt.Printf(" %9s", r)
	}
	fmt.Printf(" %9s %9s %9s %9s\n", "Chrome", "÷ first", "PNG", "mismatch")
	base, err := imagediff.Decode(rows[0].shot, 64_000_000)
	if err != nil {
		log.Fatalf("levers: the baseline's capture: %v", err)
	}
	var first float64
	for i, r := range rows {
		vals, all := chromeCPU(r.cpu)
		if i == 0 {
			first = all
		}
		mismatch := "-"
		if img, err := imagediff.Decode(r.shot, 64_000_000); err == nil {
			if d, _, err := imagediff.Compare(context.Background(), base, img, imagediff.DefaultThreshold); err == nil {
				mismatch = fmt.Sprintf("%.4f", d.MismatchRatio)
			}
		}
		fmt.Printf("%-34s %9s", r.name, ms(median(r.times)))
		for _, v := range vals {
			fmt.Printf(" %9.0f", v)
		}
		fmt.Printf(" %9.0f %9.2f %7d B %9s\n", all, all/first, r.bytes, mismatch)
	}
	for _, r := range rows {
		if r.waits {
			fmt.Printf("(%q took the capture again, after a quiet window, in %d of %d)\n", r.name, r.again, len(r.times))
		}
	}
}
