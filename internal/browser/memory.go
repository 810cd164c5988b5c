package browser

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// memoryCheckEvery is how often the watchdog looks at the renderers.
const memoryCheckEvery = 250 * time.Millisecond

// watchMemory kills any renderer of this manager's browsers whose resident
// memory passes max. Every capture has a renderer of its own (its own
// browser context), so the kill ends that capture alone: its tab reports
// the crash and the request fails at once, while the instance and the other
// captures live on.
func (m *Manager) watchMemory(max int64, done <-chan struct{}) {
	t := time.NewTicker(memoryCheckEvery)
	defer t.Stop()
	zygotes := map[int][]int{} // browser's process group → its zygotes
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		groups := m.liveGroups()
		for g := range zygotes {
			if !groups[g] {
				delete(zygotes, g)
			}
		}
		for g := range groups {
			for _, p := range renderers(g, zygotes, max) {
				if err := syscall.Kill(p.PID, syscall.SIGKILL); err == nil {
					m.cfg.Logger.Warn("a renderer went over its memory limit and was ended", "event", "renderer_memory_exceeded",
						"pid", p.PID, "rss_bytes", p.RSS, "limit_bytes", max)
				}
			}
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
