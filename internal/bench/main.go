// Command bench measures Pixashot as a user runs it against the least its
// engine can do and against a peer, on one page and one Chrome binary, and
// prints a table of medians and ratios. `make bench` runs it.
//
//	go run ./internal/bench -bin bin/pixashot
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
)

//go:embed peer.js
var peerJS []byte

var levels = []int{1, 2, 4, 8}

// heavyPort is the heavy pages' port, which the service must be allowed.
var heavyPort string

func main() {
	bin := flag.String("bin", "bin/pixashot", "the service binary (make build)")
	runs := flag.Int("runs", 30, "sequential captures per subject")
	perLevel := flag.Int("count", 8, "captures per concurrent worker at each throughput level")
	peerDir := flag.String("peer-dir", ".tools/peer", "where playwright-core is installed for the peer")
	withPeer := flag.Bool("peer", true, "run the playwright-core peer")
	pause := flag.Duration("pause", 750*time.Millisecond, "idle time between captures in the one-at-a-time series")
	nSites := flag.Int("sites", 8, "distinct sites of the many-site and heavy-pages workloads")
	seed := flag.Uint64("seed", 38, "the seed the heavy pages are generated from")
	onlyOptions := flag.Bool("only-options", false, "measure only the page options' table")
	onlyBatch := flag.Bool("only-batch", false, "measure only the batch throughput")
	batchSize := flag.Int("batch", 100, "captures of the batch-throughput comparison")
	onlyIsolation := flag.Bool("only-isolation", false, "measure only what isolation costs in plain chromedp")
	onlyTelemetry := flag.Bool("only-telemetry", false, "measure only what the metrics and trace exporters cost")
	onlyProxy := flag.Bool("only-proxy", false, "measure only what a client's proxy costs")
	starts := flag.Int("starts", 10, "cold starts measured one after another")
	onlyCold := flag.Bool("only-cold", false, "measure only the cold starts")
	onlyLevers := flag.Bool("only-levers", false, "measure only the levers on the heavy pages")
	leverNames := flag.String("levers", "", "with -only-levers: only the levers whose names contain this (the baseline always runs)")
	onlyEncoding := flag.Bool("only-encoding", false, "measure only the encoding levers on a tall heavy page")
	c4Turns := flag.Int("c4-turns", 8, "rounds of the c=4 CPU measure in turns in every workload (8 resolve 5%)")
	onlyC4 := flag.Int("only-c4", 0, "measure only the c=4 CPU of the isolated floor and the service, in this many turns each, on -workload (many by default)")
	ab := flag.String("ab", "", "measure only the service against this other build of it (before/after), on the heavy pages")
	extra := flag.String("options", "", `capture options for every capture of the service, as JSON (an A/B: '{"wait_for_network":"mostly_idle"}')`)
	only := flag.String("workload", "", "measure only this workload's table (many, same or heavy), and nothing after it")
	flag.Parse()
	log.SetFlags(0)
	if *extra != "" {
		if err := json.Unmarshal([]byte(*extra), &serviceOptions); err != nil {
			log.Fatalf("-options: %v", err)
		}
	}

	chrome := findChrome()
	pages := startPages()
	sites := startSites(*nSites)
	adSite = sites[1]
	heavy, port := startHeavy(*nSites, *seed)
	heavyPort = port
	slots := serviceSlots()
	manySites := workload{urls: sites, rotate: true}
	if *onlyBatch {
		svc := startService(*bin, chrome, pages, sites)
		defer svc.stop()
		benchBatch(svc, manySites.next(), *batchSize, slots)
		return
	}
	if *onlyIsolation {
		benchIsolation(chrome, manySites.next(), *runs)
		return
	}
	if *onlyTelemetry {
		benchTelemetry(*bin, chrome, pages, sites, manySites.next(), *runs)
		return
	}
	if *onlyProxy {
		benchProxy(*bin, chrome, pages, sites, manySites.next(), *runs)
		return
	}
	heavyPages := workload{urls: heavy, rotate: true}
	if *ab != "" {
		benchAB(*bin, *ab, chrome, pages, sites, heavyPages.next(), *runs)
		return
	}
	if *onlyLevers {
		if *leverNames != "" {
			base := levers[0].name
			levers = slices.DeleteFunc(levers, func(l lever) bool { return l.name != base && !strings.Contains(l.name, *leverNames) })
		}
		benchLevers(chrome, heavyPages.next(), *runs)
		return
	}
	if *onlyEncoding {
		benchEncoding(chrome, heavyPages.next()(), *runs/3)
		return
	}
	if *onlyCold {
		coldStarts(*bin, chrome, pages, sites, *starts)
		return
	}
	if *onlyOptions {
		svc := startService(*bin, chrome, pages, sites)
		defer svc.stop()
		benchPageOptions(svc, pages, *runs)
		return
	}
	if *onlyC4 > 0 {
		w := manySites
		if strings.HasPrefix(*only, "heavy") {
			w = heavyPages
		}
		benchC4(*bin, chrome, pages, sites, w.next(), *onlyC4, 2**perLevel)
		return
	}
	workloads := []workload{
		{name: "many sites", about: fmt.Sprintf("%d sites on distinct loopback addresses (each its own site to Chrome), "+
			"Cache-Control: no-store, a unique query per capture, every capture a different site from the one before", len(sites)),
			urls: sites, rotate: true},
		{name: "same page", about: "one page over and over: a warm renderer and HTTP cache for the floor", urls: []string{pages + "/page"}},
		{name: "heavy pages", about: fmt.Sprintf("%d generated sites shaped like the web's, each with four names (page, CDN, ads, video: "+
			"four sites to Chrome): 60-120 subresources, 2-4 web fonts, 2-6 MB of JPEG, PNG, GIF and SVG images (below the fold lazy), "+
			"3-6 cross-site iframes, a document over 8000 px; no-store, a unique query, a different site each capture", len(heavy)),
			urls: heavy, rotate: true},
	}
	if *only != "" {
		workloads = slices.DeleteFunc(workloads, func(w workload) bool { return !strings.HasPrefix(w.name, *only) })
		if len(workloads) == 0 {
			log.Fatalf("-workload %q: no such workload (many, same, heavy)", *only)
		}
	}
	fmt.Printf("Pixashot benchmark: %s, %d CPUs, %s\npage: a report (HTML, a stylesheet, an image), 1920x1080 PNG\n"+
		"only ratios from this one run count: this machine drifts by up to 2x between days\n\n",
		cpuModel(), runtime.NumCPU(), chromeVersion(chrome))

	// The floors' Chromes stay up beside the service so that the three can
	// be measured in turns: the machine drifts by ±10% within the hour, and
	// a ratio is only sound between figures taken in the same minutes. Each
	// one's CPU is its own process tree's, so none is in another's.
	fl := startFloor(chrome, pages+"/page", false)
	defer fl.stop()
	iso := startFloor(chrome, pages+"/page", true)
	defer iso.stop()
	log.Print("service: cold start...")
	svc := startService(*bin, chrome, pages, sites)
	defer svc.stop()
	var idleMem int64
	for i := range workloads {
		w := &workloads[i]
		next := w.next()
		floor := &side{name: "floor", pid: fl.pid, one: func() error { return fl.one(next()) }}
		isolated := &side{name: "isolated floor", pid: iso.pid, one: func() error { return iso.one(next()) }}
		service := &side{name: "service", pid: svc.cmd.Process.Pid, one: func() error { return svc.capture(next()) }}
		warm(floor, isolated, service)
		// Back to back in three rounds, each started by another of the
		// three: the target's "median of three interleaved rounds".
		log.Printf("floors and service (%s): %d captures each back to back, in three rounds...", w.name, *runs)
		per := *runs / 3
		cpu := inRounds(3, per, []*side{floor, isolated, service}, func(s *side) {
			s.times = append(s.times, series(s.name, per, 0, s.one)...)
		})
		w.floor, w.isoFloor, w.seq = floor.times, isolated.times, service.times
		w.floorCPU, w.isoCPU, w.seqCPU = cpu[0], cpu[1], cpu[2]
		log.Printf("floors and service (%s): %d captures each one at a time, %s apart, in turns...", w.name, *runs, *pause)
		w.floorPaced, w.isoPaced, w.paced = inTurns(*runs, *pause, floor.one, isolated.one, service.one)
		if i == 0 {
			time.Sleep(2 * time.Second)
			idleMem = pss(svc.cmd.Process.Pid)
		}
		log.Printf("service (%s): throughput...", w.name)
		w.tput = map[int]rate{}
		for _, c := range levels {
			w.tput[c] = throughput(c, c**perLevel, svc.cmd.Process.Pid, service.one)
		}
		// What four at once cost Chrome by itself, as a level like the
		// service's above.
		log.Printf("isolated floor (%s): c=4...", w.name)
		w.isoC4 = throughput(4, 4**perLevel, iso.pid, isolated.one)
		log.Printf("isolated floor and service (%s): c=4 in %d turns...", w.name, *c4Turns)
		w.c4Turns = *c4Turns
		w.isoTurns, w.svcTurns = c4InTurns(*c4Turns, 2**perLevel, isolated, service)
		// The peak memory under the highest load, in a run of its own and
		// untimed: reading every process's smaps_rollup five times a second
		// walks their page tables under their mmap locks. Beside the timed
		// levels it cost 38-63 ms of CPU per capture (the "rest" column)
		// and 3-16% of the throughput at c=4 (alternating runs of 40).
		log.Printf("service (%s): peak memory at c=%d...", w.name, levels[len(levels)-1])
		var peak atomic.Int64
		stopSampling := sample(svc.cmd.Process.Pid, &peak)
		throughput(levels[len(levels)-1], *perLevel, svc.cmd.Process.Pid, service.one)
		stopSampling()
		w.peak = peak.Load()
	}
	fl.stop()
	iso.stop()
	for i := range workloads {
		w := &workloads[i]
		w.peerErr = fmt.Errorf("-peer=false")
		if *withPeer {
			w.peer, w.peerErr = runPeer(*peerDir, chrome, w.urls, w.rotate, *runs, *perLevel)
		}
	}
	for _, w := range workloads {
		w.print(*pause)
	}
	if *only != "" {
		return
	}
	benchIsolation(chrome, manySites.next(), *runs)
	benchLevers(chrome, heavyPages.next(), *runs)
	benchEncoding(chrome, heavyPages.next()(), *runs/3)
	benchPageOptions(svc, pages, *runs/2)
	benchBatch(svc, manySites.next(), *batchSize, slots)
	svc.stop()
	benchTelemetry(*bin, chrome, pages, sites, manySites.next(), *runs)
	benchProxy(*bin, chrome, pages, sites, manySites.next(), *runs)
	coldStarts(*bin, chrome, pages, sites, *starts)
	fmt.Printf("%-34s %9.0f MB idle\n", "memory (PSS, service + Chrome)", float64(idleMem)/(1<<20))
}

// workload is one kind of traffic and what was measured on it.
type workload struct {
	name, about string
	urls        []string
	rotate      bool // a different site each time, with a unique query

	floor, isoFloor, seq        []time.Duration
	floorPaced, isoPaced, paced []time.Duration
	floorCPU, isoCPU, seqCPU    cpuUse
	isoC4                       rate   // the isolated floor with four captures at once
	isoTurns, svcTurns          cpuUse // both at c=4, in turns
	c4Turns                     int
	tput                        map[int]rate
	peak                        int64 // PSS of the service and its Chrome at the highest level
	peer                        peerResult
	peerErr                     error
}

// next returns the workload's URL generator: the same page, or the next
// site in turn with a query never used before (nothing can be cached).
func (w *workload) next() func() string {
	var n atomic.Int64
	return func() string {
		i := n.Add(1)
		if !w.rotate {
			return w.urls[0]
		}
		return w.urls[int(i)%len(w.urls)] + "/page?q=" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(i, 10)
	}
}

func (w workload) print(pause time.Duration) {
	fmt.Printf("\n== workload: %s ==\n%s\n\n", w.name, w.about)
	header := func(title string) {
		fmt.Printf("%-34s %9s %9s %9s\n", title, "median", "p95", "÷ floor")
	}
	row := func(name string, d, floor []time.Duration) {
		fmt.Printf("%-34s %9s %9s %9.2f\n", name, ms(median(d)), ms(p95(d)), float64(median(d))/float64(median(floor)))
	}
	header("per capture, back to back, 3 turns")
	row("floor: chromedp, one reused tab", w.floor, w.floor)
	row("isolated floor: new context + tab", w.isoFloor, w.floor)
	row("service over HTTP", w.seq, w.floor)
	if w.peerErr == nil {
		row("peer: playwright-core, networkidle", w.peer.seq, w.floor)
	}
	// A capture on an instance with a moment to spare: what a client sees
	// when the service is not saturated (throughput covers saturation).
	fmt.Println()
	header(fmt.Sprintf("per capture, %s idle, in turns", pause))
	row("floor: chromedp, one reused tab", w.floorPaced, w.floorPaced)
	row("isolated floor: new context + tab", w.isoPaced, w.floorPaced)
	row("service over HTTP", w.paced, w.floorPaced)
	fmt.Printf("%-34s %9.2f %9.2f\n", "service ÷ isolated floor", float64(median(w.paced))/float64(median(w.isoPaced)),
		float64(p95(w.paced))/float64(p95(w.isoPaced)))
	fmt.Printf("\n%-34s", "throughput (captures/s)")
	for _, c := range levels {
		fmt.Printf(" %9s", "c="+strconv.Itoa(c))
	}
	fmt.Printf("\n%-34s", "service")
	for _, c := range levels {
		fmt.Printf(" %9s", w.tput[c])
	}
	fmt.Printf("\n%-34s %9s %9s %9s", "isolated floor", "", "", w.isoC4)
	if w.peerErr == nil {
		fmt.Printf("\n%-34s", "peer")
		for _, c := range levels {
			fmt.Printf(" %9s", w.peer.tput[c])
		}
		fmt.Printf("\n%-34s %9.2f", "service ÷ peer at c=4", w.tput[4].perSecond/w.peer.tput[4].perSecond)
	} else {
		fmt.Printf("\npeer skipped: %v", w.peerErr)
	}
	// CPU per capture explains the throughput: with every core busy, no
	// scheduling beats cores × 1000 ÷ CPU ms captures per second.
	fmt.Printf("\n\n%-34s %9s", "CPU per capture (ms, all processes)", "seq")
	for _, c := range levels {
		fmt.Printf(" %9s", "c="+strconv.Itoa(c))
	}
	fmt.Printf("\n%-34s %9.0f", "floor", w.floorCPU.total)
	fmt.Printf("\n%-34s %9.0f %9s %9s %9.0f", "isolated floor", w.isoCPU.total, "", "", w.isoC4.cpu.total)
	fmt.Printf("\n%-34s %9.0f", "service", w.seqCPU.total)
	for _, c := range levels {
		fmt.Printf(" %9.0f", w.tput[c].cpu.total)
	}
	if w.peerErr == nil {
		fmt.Printf("\n%-34s %9.0f", "peer", w.peer.seqCPU)
		for _, c := range levels {
			fmt.Printf(" %9.0f", w.peer.tput[c].cpu.total)
		}
	}
	fmt.Printf("\n%-34s %9.2f", "service CPU at c=4 ÷ floor's", w.tput[4].cpu.total/w.floorCPU.total)
	fmt.Printf("\n%-34s %9.2f", "service CPU at c=4 ÷ isolated's", w.tput[4].cpu.total/w.isoCPU.total)
	fmt.Printf("\n%-34s %9.2f", "  ÷ isolated's at c=4", w.tput[4].cpu.total/w.isoC4.cpu.total)
	fmt.Printf("\n%-34s %9.2f (%.0f ms against %.0f, c=4 in %d turns each)", "  ÷ isolated's, both in turns",
		w.svcTurns.total/w.isoTurns.total, w.svcTurns.total, w.isoTurns.total, w.c4Turns)
	fmt.Printf("\n%-34s %9.2f captures/s (%d cores × 1000 ÷ service CPU at c=4)", "CPU ceiling of the service",
		float64(runtime.NumCPU())*1000/w.tput[4].cpu.total, runtime.NumCPU())
	// Where it goes, by kind of process: Go is the service (the benchmark
	// itself for the floor), rest is what no process of theirs spent.
	fmt.Print("\n\n")
	byRoleHeader()
	byRole("floor", w.floorCPU)
	byRole("isolated floor", w.isoCPU)
	byRole("isolated floor, c=4", w.isoC4.cpu)
	byRole("service, sequential", w.seqCPU)
	byRole("service, c=4", w.tput[4].cpu)
	byRole("isolated floor, c=4, in turns", w.isoTurns)
	byRole("service, c=4, in turns", w.svcTurns)
	top := levels[len(levels)-1]
	fmt.Printf("\n\n%-34s %9.0f MB, %.0f MB a capture in flight\n", fmt.Sprintf("peak PSS at c=%d (service + Chrome)", top),
		float64(w.peak)/(1<<20), float64(w.peak)/(1<<20)/float64(top))
}

// --- the page ---

// startPages serves the benchmark page on 127.0.0.2, which the service's
// egress guard is told to allow.
func startPages() string {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, pageMux(false))
	return "http://" + ln.Addr().String()
}

// siteBase is where the many-site workload's sites live: 127.0.0.16 and
// up, one address each (a site of its own to Chrome), all on one port.
const siteBase = 16

// startSites serves the page on n loopback addresses with one port, every
// answer marked no-store.
func startSites(n int) []string {
	var urls []string
	for _, ln := range listenSamePort(siteBase, n) {
		go http.Serve(ln, pageMux(true))
		urls = append(urls, "http://"+ln.Addr().String())
	}
	return urls
}

// listenSamePort listens on n loopback addresses from 127.0.0.<base> up,
// all on one port (so that one EGRESS_ALLOW_PORTS entry covers them).
func listenSamePort(base, n int) []net.Listener {
	for attempt := 0; attempt < 20; attempt++ {
		first, err := net.Listen("tcp", "127.0.0."+strconv.Itoa(base)+":0")
		if err != nil {
			log.Fatal(err)
		}
		port := strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
		lns := []net.Listener{first}
		for i := 1; i < n; i++ {
			ln, err := net.Listen("tcp", "127.0.0."+strconv.Itoa(base+i)+":"+port)
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == n {
			return lns
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	log.Fatalf("no port free on all of 127.0.0.%d-%d", base, base+n-1)
	return nil
}

// pageMux serves the report page, its stylesheet and its image.
func pageMux(noStore bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, pageHTML)
	})
	mux.HandleFunc("/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, pageCSS)
	})
	mux.HandleFunc("/logo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(onePixelPNG)
	})
	adHandlers(mux, func() string { return adSite })
	if !noStore {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

const pageHTML = `<!doctype html><html><head><meta charset="utf-8"><title>Quarterly report</title>
<link rel="stylesheet" href="/style.css"></head><body><header><img src="/logo.png" width="48" height="48"><h1>Quarterly report</h1></header>
<main>` + paragraphs + `<table><tr><th>Region</th><th>Q1</th><th>Q2</th><th>Q3</th></tr><tr><td>North</td><td>12.1</td><td>13.4</td><td>15.0</td></tr>
<tr><td>South</td><td>9.7</td><td>10.2</td><td>11.9</td></tr><tr><td>East</td><td>14.3</td><td>14.8</td><td>16.2</td></tr></table></main></body></html>`

const paragraphs = `<p>Revenue grew in every region this quarter, led by the East, where the new distribution centre opened in March. Costs rose more slowly than sales.</p>
<p>The outlook for the next quarter is steady: orders on hand cover eleven weeks of production, and the supply of components has returned to normal.</p>
<p>Headcount rose by four percent, mostly in support and logistics. The board approved the budget for the second plant.</p>`

const pageCSS = `body{font-family:sans-serif;margin:40px;color:#222;background:#fafafa}header{display:flex;gap:16px;align-items:center}
h1{font-size:32px}p{font-size:18px;line-height:1.5;max-width:900px}table{border-collapse:collapse;margin-top:24px}
td,th{border:1px solid #ccc;padding:8px 16px}th{background:#eee}`

var onePixelPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// --- the floor ---

// floorTab is the least this engine does per capture: navigate one reused tab,
// wait for load, screenshot. No HTTP, no isolation, no guard.
type floorTab struct {
	ctx      context.Context
	pid      int
	isolated bool               // a new incognito context and tab per capture, closed after it
	stop     context.CancelFunc // closes the tab and its Chrome
}

func startFloor(chrome, url string, isolated bool) *floorTab {
	ctx, pid, stop := launchChrome(chrome)
	f := &floorTab{ctx: ctx, pid: pid, isolated: isolated, stop: stop}
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		log.Fatalf("floor: %v", err)
	}
	series("floor", 3, 0, func() error { return f.one(url) }) // warm-up
	return f
}

// launchChrome starts a Chrome of chromedp's defaults, as a user of plain
// chromedp would, and returns the context of its first tab.
func launchChrome(chrome string, extra ...chromedp.ExecAllocatorOption) (ctx context.Context, pid int, stop context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel2 := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		log.Fatalf("chrome: %v", err)
	}
	return ctx, chromedp.FromContext(ctx).Browser.Process().Pid, func() { cancel2(); cancel() }
}

func (f *floorTab) one(url string) error {
	if !f.isolated {
		_, err := shoot(f.ctx, url, false)
		return err
	}
	_, err := shootInNewContext(f.ctx, url, false)
	return err
}

// shootInNewContext takes url's PNG in a tab of a new incognito context of
// browser, closed after it: the isolated floor.
func shootInNewContext(browser context.Context, url string, fast bool) ([]byte, error) {
	return shootInNewTab(func() (context.Context, context.CancelFunc) { return newContextTab(browser, nil) }, url, fast)
}

// shootInNewTab opens a tab with open, sizes it as every capture's, takes
// url's PNG and closes the tab (and a context of its own with it).
func shootInNewTab(open func() (context.Context, context.CancelFunc), url string, fast bool) ([]byte, error) {
	return inNewTab(open, func(ctx context.Context) ([]byte, error) { return shoot(ctx, url, fast) })
}

// inNewTab opens a tab with open, sizes it as every capture's, runs take
// in it and closes the tab (and a context of its own with it).
func inNewTab(open func() (context.Context, context.CancelFunc), take func(context.Context) ([]byte, error)) ([]byte, error) {
	ctx, cancel := open()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		return nil, err
	}
	return take(ctx)
}

// shoot navigates the tab of ctx to url and takes a PNG of the viewport.
func shoot(ctx context.Context, url string, fast bool) ([]byte, error) {
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		return nil, err
	}
	return shot(ctx, encodeWay{format: page.CaptureScreenshotFormatPng, fast: fast}, nil)
}

// inTurns times runs captures of the floors and of the service one at a
// time, alternating, with pause before each: every series sees the machine
// as it was in the same minutes.
func inTurns(runs int, pause time.Duration, floor, isolated, service func() error) (floorTimes, isoTimes, serviceTimes []time.Duration) {
	for range runs {
		floorTimes = append(floorTimes, series("floor", 1, pause, floor)...)
		isoTimes = append(isoTimes, series("isolated floor", 1, pause, isolated)...)
		serviceTimes = append(serviceTimes, series("service", 1, pause, service)...)
	}
	return floorTimes, isoTimes, serviceTimes
}

// series times runs captures one after another, with pause between them; a
// failed capture ends the benchmark.
func series(name string, runs int, pause time.Duration, one func() error) []time.Duration {
	out := make([]time.Duration, 0, runs)
	for range runs {
		time.Sleep(pause)
		t := time.Now()
		if err := one(); err != nil {
			log.Fatalf("%s capture: %v", name, err)
		}
		out = append(out, time.Since(t))
	}
	return out
}

// --- the service ---

type service struct {
	cmd   *exec.Cmd
	base  string
	token string
	cold  time.Duration
	dir   string
}

// startService runs the binary as a user would, on embedded defaults plus
// what the benchmark page needs through the egress guard, and measures
// process start to the first successful capture.
func startService(bin, chrome, pages string, sites []string, env ...string) *service {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dir, _ := os.MkdirTemp("", "pixashot-bench-")
	_, pagePort, _ := net.SplitHostPort(strings.TrimPrefix(pages, "http://"))
	s := &service{base: "http://127.0.0.1:" + port, token: strconv.FormatInt(time.Now().UnixNano(), 36) + "-bench-token", dir: dir}
	s.cmd = exec.Command(bin)
	_, sitePort, _ := net.SplitHostPort(strings.TrimPrefix(sites[0], "http://"))
	// One client runs every capture of the benchmark: its share of the
	// slots is all of them.
	slots := serviceSlots()
	s.cmd.Env = append(os.Environ(), "PORT="+port, "AUTH_TOKEN="+s.token, "CHROME_PATH="+chrome, "RATE_LIMIT=0",
		"EGRESS_ALLOW_CIDRS=127.0.0.2/32,127.0.0.16/28,"+heavyCIDR, "EGRESS_ALLOW_PORTS="+pagePort+","+sitePort+","+heavyPort,
		"MAX_CONCURRENCY="+strconv.Itoa(slots), "QUEUE_SIZE="+strconv.Itoa(2*slots),
		"CLIENT_MAX_CONCURRENCY="+strconv.Itoa(3*slots), "STORAGE_DIR="+filepath.Join(dir, "captures"),
		// A run makes more captures than BROWSER_RECYCLE_AFTER: a Chrome that
		// exits mid-measurement takes its processes' time out of the
		// by-process rows (the totals stay right). One start per 500 captures
		// is under a millisecond a capture, and the cold starts measure it.
		"BROWSER_RECYCLE_AFTER=0")
	if os.Geteuid() == 0 {
		// As the floor's Chrome: a root Chrome has no sandbox to start.
		s.cmd.Env = append(s.cmd.Env, "CHROME_NO_SANDBOX=true")
	}
	s.cmd.Env = append(s.cmd.Env, env...)
	logf, _ := os.Create(filepath.Join(dir, "service.log"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		log.Fatalf("starting %s (run make build): %v", bin, err)
	}
	for time.Since(start) < 60*time.Second {
		if s.capture(pages+"/page") == nil {
			s.cold = time.Since(start)
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Fatalf("the service gave no capture within 60 s; see %s", logf.Name())
	return nil
}

var client = &http.Client{Timeout: 60 * time.Second}

// serviceOptions are -options: added to every capture of the workloads.
var serviceOptions map[string]any

func (s *service) capture(url string) error { return s.captureWith(url, serviceOptions) }

func (s *service) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
	os.RemoveAll(s.dir)
}

// goInit is the wall time the binary's package initializers take at every
// start (GODEBUG=inittrace=1; the CLI's usage error exits right after them).
// A dependency that builds tables in init shows here: go-runewidth v0.0.27
// took 28-51 ms of it, v0.0.31 none.
func goInit(bin string) float64 {
	cmd := exec.Command(bin, "sign")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, _ := cmd.CombinedOutput()
	var ms float64
	for _, line := range strings.Split(string(out), "\n") {
		// init pkg @0.63 ms, 28 ms clock, 22240 bytes, 53 allocs
		if f := strings.Fields(line); len(f) > 5 && f[0] == "init" && f[5] == "ms" {
			v, _ := strconv.ParseFloat(f[4], 64)
			ms += v
		}
	}
	return ms
}

// --- throughput ---

type rate struct {
	perSecond float64
	errors    int64
	cpu       cpuUse // per capture
}

func (r rate) String() string {
	if r.errors > 0 {
		return fmt.Sprintf("%.2f (%d err)", r.perSecond, r.errors)
	}
	return fmt.Sprintf("%.2f", r.perSecond)
}

// side is one subject of a measure in turns: the process tree its CPU is
// counted in, one capture of it, and its captures' times where a measure
// keeps them.
type side struct {
	name  string
	pid   int
	one   func() error
	times []time.Duration
}

// inRounds runs turn for each side in rounds, each round started by the
// next side (so none is always measured right after another's disposal),
// and returns each side's CPU per capture over every round, perTurn
// captures a turn, its last tabs' disposal counted.
func inRounds(rounds, perTurn int, sides []*side, turn func(*side)) []cpuUse {
	cpu := make([]cpuUse, len(sides))
	for i := range cpu {
		cpu[i].roles = map[string]float64{}
	}
	for r := range rounds {
		for k := range sides {
			i := (k + r) % len(sides)
			c0 := snapCPU(sides[i].pid)
			turn(sides[i])
			time.Sleep(time.Second)
			u := c0.per(snapCPU(sides[i].pid), perTurn)
			cpu[i].total += u.total / float64(rounds)
			for role, v := range u.roles {
				cpu[i].roles[role] += v / float64(rounds)
			}
		}
	}
	return cpu
}

// c4InTurns runs rounds of captures four at a time, the isolated floor's
// and the service's in turns, and returns each one's CPU per capture over
// them all: the c=4 CPU target's ratio from the same minutes (levels
// measured minutes apart move by ±10-30%, the machine drifting between).
func c4InTurns(rounds, perRound int, iso, svc *side) (isoCPU, svcCPU cpuUse) {
	cpu := inRounds(rounds, perRound, []*side{iso, svc}, func(s *side) { concurrently(4, perRound, s.one) })
	return cpu[0], cpu[1]
}

// benchC4 is the c=4 CPU ratio in turns alone, in as many rounds as asked:
// enough of them resolve what three in make bench cannot.
func benchC4(bin, chrome, pages string, sites []string, next func() string, rounds, perRound int) {
	iso := startFloor(chrome, pages+"/page", true)
	defer iso.stop()
	svc := startService(bin, chrome, pages, sites)
	defer svc.stop()
	isolated := &side{name: "isolated floor", pid: iso.pid, one: func() error { return iso.one(next()) }}
	service := &side{name: "service", pid: svc.cmd.Process.Pid, one: func() error { return svc.capture(next()) }}
	warm(isolated, service)
	log.Printf("isolated floor and service: c=4 in %d turns each of %d captures...", rounds, perRound)
	isoCPU, svcCPU := c4InTurns(rounds, perRound, isolated, service)
	fmt.Printf("\nc=4 in %d turns of %d captures each: the service %.0f ms a capture, the isolated floor %.0f: %.3f×\n",
		rounds, perRound, svcCPU.total, isoCPU.total, svcCPU.total/isoCPU.total)
	byRoleHeader()
	byRole("isolated floor", isoCPU)
	byRole("service", svcCPU)
	fmt.Println()
}

// warm takes three unmeasured captures of each side.
func warm(sides ...*side) {
	for _, s := range sides {
		for range 3 {
			s.one() //nolint:errcheck // warm-up
		}
	}
}

// byRoleHeader prints the head of the table byRole's rows make.
func byRoleHeader() {
	fmt.Printf("%-34s", "CPU per capture by process (ms)")
	for _, r := range roles {
		fmt.Printf(" %9s", r)
	}
}

// byRole prints a row of CPU per capture by kind of process.
func byRole(name string, u cpuUse) {
	fmt.Printf("\n%-34s", name)
	for _, r := range roles {
		fmt.Printf(" %9.0f", u.roles[r])
	}
}

// throughput runs total captures with c workers and returns captures per
// second; CPU is broken down for the process tree of root.
func throughput(c, total, root int, one func() error) rate {
	start, c0 := time.Now(), snapCPU(root)
	errs := concurrently(c, total, one)
	return rate{perSecond: float64(total) / time.Since(start).Seconds(), errors: errs,
		cpu: c0.per(snapCPU(root), total)}
}

// concurrently runs total captures, c at a time, and counts the failures.
func concurrently(c, total int, one func() error) int64 {
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				if err := one(); err != nil {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return errs.Load()
}

// --- the peer ---

type peerResult struct {
	seq    []time.Duration
	seqCPU float64
	tput   map[int]rate
}

// runPeer installs playwright-core with npm (once) and runs peer.js.
func runPeer(dir, chrome string, urls []string, rotate bool, runs, perLevel int) (peerResult, error) {
	if _, err := exec.LookPath("npm"); err != nil {
		return peerResult{}, fmt.Errorf("npm is not installed")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return peerResult{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		log.Print("peer: npm install playwright-core...")
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, "playwright-core@1")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return peerResult{}, fmt.Errorf("npm install playwright-core: %w", err)
		}
	}
	script := filepath.Join(dir, "peer.js")
	if err := os.WriteFile(script, peerJS, 0o644); err != nil {
		return peerResult{}, err
	}
	log.Print("peer: playwright-core, sequential and throughput...")
	var ls []string
	for _, c := range levels {
		ls = append(ls, strconv.Itoa(c))
	}
	cmd := exec.Command("node", script, chrome, strings.Join(urls, ","), strconv.Itoa(runs), strings.Join(ls, ","), strconv.Itoa(perLevel),
		strconv.FormatBool(rotate))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return peerResult{}, fmt.Errorf("peer: %w", err)
	}
	var raw struct {
		SeqMS      []float64 `json:"seq_ms"`
		SeqCPU     float64   `json:"seq_cpu_ms"`
		Throughput map[string]struct {
			PerSecond float64 `json:"per_second"`
			Errors    int64   `json:"errors"`
			CPU       float64 `json:"cpu_ms"`
		} `json:"throughput"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return peerResult{}, fmt.Errorf("peer output: %w", err)
	}
	r := peerResult{tput: map[int]rate{}, seqCPU: raw.SeqCPU}
	for _, v := range raw.SeqMS {
		r.seq = append(r.seq, time.Duration(v*float64(time.Millisecond)))
	}
	for k, v := range raw.Throughput {
		c, _ := strconv.Atoi(k)
		r.tput[c] = rate{perSecond: v.PerSecond, errors: v.Errors, cpu: cpuUse{total: v.CPU}}
	}
	return r, nil
}

// --- helpers ---

func median(d []time.Duration) time.Duration { return percentile(d, 0.5) }
func p95(d []time.Duration) time.Duration    { return percentile(d, 0.95) }

func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func findChrome() string {
	p := config.FindChrome(os.Getenv)
	if p == "" {
		log.Fatal("no Chromium: apt-get install chromium-headless-shell, or set CHROME_PATH")
	}
	return p
}

func chromeVersion(chrome string) string {
	out, err := exec.Command(chrome, "--version").Output()
	if err != nil {
		return filepath.Base(chrome)
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// serviceSlots is the MAX_CONCURRENCY the benchmark gives the service.
func serviceSlots() int { return min(max(2*runtime.NumCPU(), 2), 16) }
