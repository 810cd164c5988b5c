package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// The benchmark reads /proc to see what the service and its Chrome cost:
// memory as PSS, CPU per kind of process.

// tree is root and every live descendant, root first.
func tree(root int) []procstat.Stat {
	children := map[int][]procstat.Stat{}
	var top procstat.Stat
	for _, p := range procstat.All() {
		if p.PID == root {
			top = p
		}
		children[p.PPID] = append(children[p.PPID], p)
	}
	if top.PID == 0 {
		return nil
	}
	out := []procstat.Stat{top}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].PID]...)
	}
	return out
}

// --- memory ---

// pss is the proportional set size of pid and every descendant (Chrome and
// its helpers): shared pages are counted once across them, unlike RSS.
func pss(root int) int64 {
	var total int64
	for _, p := range tree(root) {
		total += pssOf(p.PID)
	}
	return total
}

func pssOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sample records the peak PSS until the returned stop is called.
func sample(pid int, peak *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if v := pss(pid); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// --- CPU ---

// roles are the kinds of process CPU is reported for, in table order.
var roles = []string{"Go", "browser", "GPU", "renderers", "utility", "rest"}

// cpuSnap is the CPU spent so far: by the whole machine, and by each kind of
// process in one tree.
type cpuSnap struct {
	busy  float64
	roles map[string]float64
}

// snapCPU reads the machine's busy time and root's tree by role. Renderers
// exit with their tab; the zygote that forked them keeps their time as its
// children's, so it is counted there. A whole Chrome that exits (a recycle)
// would take its time with it, out of every role: the bench's service
// never recycles.
func snapCPU(root int) cpuSnap {
	s := cpuSnap{busy: busyMS(), roles: map[string]float64{}}
	for i, p := range tree(root) {
		if i == 0 {
			s.roles["Go"] += p.CPU
			continue
		}
		switch role := chromeRole(p.PID); role {
		case "zygote":
			s.roles["renderers"] += p.CPU + p.ChildCPU
		default:
			s.roles[role] += p.CPU
		}
	}
	return s
}

// cpuUse is CPU per capture: the whole machine's and each role's; "rest" is
// what no process of the tree spent (the benchmark's client, the kernel's
// own threads).
type cpuUse struct {
	total float64
	roles map[string]float64
}

func (a cpuSnap) per(b cpuSnap, n int) cpuUse {
	u := cpuUse{total: (b.busy - a.busy) / float64(n), roles: map[string]float64{}}
	rest := u.total
	for _, r := range roles[:len(roles)-1] {
		u.roles[r] = (b.roles[r] - a.roles[r]) / float64(n)
		rest -= u.roles[r]
	}
	u.roles["rest"] = rest
	return u
}

// chromeRole names a Chrome process by its --type. Chrome rewrites its
// command line as one string, so it is split on NULs and spaces both.
func chromeRole(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	for _, a := range strings.FieldsFunc(string(b), func(r rune) bool { return r == 0 || r == ' ' }) {
		switch a {
		case "--type=gpu-process":
			return "GPU"
		case "--type=renderer":
			return "renderers"
		case "--type=utility":
			return "utility"
		case "--type=zygote":
			return "zygote"
		}
	}
	return "browser"
}

// busyMS is the CPU time, in milliseconds, the whole machine has spent
// busy since boot (/proc/stat: every state but idle and iowait). Its
// difference over a run, divided by the captures, is what one capture
// costs in CPU, whichever process spends it: the service, Chrome's
// processes, the peer's driver, and the benchmark's own client (small, and
// the same for every subject).
func busyMS() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var busy float64
	for i, f := range strings.Fields(line)[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, _ := strconv.ParseFloat(f, 64)
		busy += v
	}
	return busy * 1000 / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100
