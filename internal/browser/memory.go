package browser

import (
	"bytes"
	"cmp"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// How often the watchdog looks: at rest, and while memory grows fast or the
// instance is past three quarters of its budget (a page that allocates in
// a tight loop gains some 100 MB in 50 ms here).
const (
	memoryCheckEvery = 250 * time.Millisecond
	memoryCheckFast  = 25 * time.Millisecond
	fastGrowth       = 16 << 20
)

// watchMemory kills any renderer of this manager's browsers whose resident
// memory passes RendererMaxBytes, and the largest renderer whenever the
// instance's memory, grown twice more by what it grew since the last look,
// would come within an eighth of InstanceMaxBytes (a kill takes a moment to
// free it, and the count is a little under the kernel's). Every capture has
// a renderer of its own (its own browser context), so a kill ends that
// capture alone: its tab reports the crash and the request fails at once,
// while the instance and the other captures live on.
func (m *Manager) watchMemory(done <-chan struct{}) {
	perRenderer, budget := m.cfg.RendererMaxBytes, m.cfg.InstanceMaxBytes
	zygotes := map[int][]int{} // browser's process group → its zygotes
	adjusted := map[int]bool{} // processes looked at for oom_score_adj
	every := memoryCheckEvery
	var last int64
	for {
		select {
		case <-done:
			return
		case <-time.After(every):
		}
		groups := m.liveGroups()
		for g := range zygotes {
			if !groups[g] {
				delete(zygotes, g)
			}
		}
		for g := range groups {
			if perRenderer <= 0 {
				break // no per-renderer limit (0 would read as "over nothing")
			}
			for _, p := range renderers(g, zygotes, perRenderer) {
				m.killRenderer(p.PID, p.RSS, perRenderer, "renderer")
			}
		}
		total, procs := instanceMemory(groups)
		var chrome int64
		for _, p := range procs {
			chrome += p.private
		}
		m.memory.Store(chrome)
		if budget <= 0 {
			continue
		}
		raiseOOMScore(procs, adjusted)
		grew := total - last
		last = total
		for total+2*max(grew, 0)+budget/8 > budget && len(procs) > 0 {
			p := procs[0] // the largest
			procs = procs[1:]
			if !isRenderer(p.pid) {
				continue
			}
			m.cfg.Logger.Info("the instance is near its memory budget", "event", "instance_memory_high", "bytes", total, "grew_bytes", grew)
			m.killRenderer(p.pid, p.private, budget, "instance")
			total -= p.private
			last = total
		}
		m.pressure.Store(total > budget*8/10)
		every = memoryCheckEvery
		if grew > fastGrowth || total > budget*3/4 {
			every = memoryCheckFast
		}
	}
}

func (m *Manager) killRenderer(pid int, bytes, limit int64, why string) {
	if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
		m.cfg.Metrics.RendererKilled(why + "_memory")
		m.cfg.Logger.Warn("a renderer went over its memory limit and was ended", "event", "renderer_memory_exceeded",
			"pid", pid, "bytes", bytes, "limit_bytes", limit, "limit", why)
	}
}

// Memory is the private memory of every Chrome process of the instance
// together at the watchdog's last look, in bytes.
func (m *Manager) Memory() int64 { return m.memory.Load() }

// Pressed reports whether the instance is near its memory budget: new
// captures wait for one to end rather than start (admission asks).
func (m *Manager) Pressed() bool { return m.pressure.Load() }

type procMemory struct {
	pid     int
	private int64
}

// instanceMemory is what this process and every process of the browsers
// in groups hold, near what the kernel charges the container: each one's
// private memory, and the shared pages once (Chrome's processes map the
// same code and fonts, so the largest share stands for all). The browsers'
// processes come largest first.
func instanceMemory(groups map[int]bool) (int64, []procMemory) {
	priv, self, _ := procstat.Memory(os.Getpid())
	var procs []procMemory
	var shared int64
	for g := range groups {
		for _, pid := range append([]int{g}, procstat.Descendants(g)...) {
			if p, sh, ok := procstat.Memory(pid); ok {
				priv += p
				shared = max(shared, sh)
				procs = append(procs, procMemory{pid, p})
			}
		}
	}
	slices.SortFunc(procs, func(a, b procMemory) int { return cmp.Compare(b.private, a.private) })
	return priv + self + shared, procs
}

// raiseOOMScore asks the kernel to end a renderer first, before the
// service or the browser, if the container's memory runs out anyway.
// Raising it needs no privilege; a sandboxed renderer may refuse, which
// leaves Chrome's own setting.
func raiseOOMScore(procs []procMemory, adjusted map[int]bool) {
	live := map[int]bool{}
	for _, p := range procs {
		live[p.pid] = true
		if !adjusted[p.pid] && isRenderer(p.pid) {
			os.WriteFile("/proc/"+strconv.Itoa(p.pid)+"/oom_score_adj", []byte("1000"), 0) //nolint:errcheck // best effort
		}
		adjusted[p.pid] = true // looked at: renderer or not, once
	}
	for pid := range adjusted {
		if !live[pid] {
			delete(adjusted, pid)
		}
	}
}

// renderers returns the renderers of group g holding more than over bytes.
func renderers(g int, zygotes map[int][]int, over int64) []procstat.Stat {
	var out []procstat.Stat
	for _, p := range candidates(g, zygotes) {
		if p.RSS > over && p.PGRP == g && p.PID != g && isRenderer(p.PID) {
			out = append(out, p)
		}
	}
	return out
}

// candidates returns the processes of group g that may be renderers.
//
// Chrome forks every renderer from a zygote, a single-threaded process that
// lives as long as its browser. So once a full look at every process has
// found g's zygotes, a check reads only their children: a few small reads
// instead of listing /proc and reading every process on the machine (the
// listing alone took some 5 ms a time on a 2-core VM, 4 times a second).
// Where the kernel keeps no list of children, or a zygote is gone, it is the
// full look again.
func candidates(g int, zygotes map[int][]int) []procstat.Stat {
	if zs := zygotes[g]; zs != nil {
		var out []procstat.Stat
		for _, z := range zs {
			kids, ok := procstat.Children(z)
			if !ok {
				delete(zygotes, g)
				return candidates(g, zygotes)
			}
			for _, k := range kids {
				if s, ok := procstat.Read(k); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	var group []procstat.Stat
	var zs []int
	for _, p := range procstat.All() {
		if p.PGRP != g {
			continue
		}
		group = append(group, p)
		if hasArg(p.PID, "--type=zygote") {
			if _, ok := procstat.Children(p.PID); ok {
				zs = append(zs, p.PID)
			}
		}
	}
	if len(zs) > 0 {
		zygotes[g] = zs
	}
	return group
}

func isRenderer(pid int) bool { return hasArg(pid, "--type=renderer") }

func hasArg(pid int, arg string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(b, []byte(arg))
}
