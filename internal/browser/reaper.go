package browser

import (
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// reaper collects zombie processes that Chrome leaves behind. The service is
// made a child subreaper, so helpers orphaned by a crashed Chrome become its
// children instead of init's (which, in a container without an init, would
// be nobody). Only processes of a Chrome process group are reaped, and never
// the Chrome main process, which chromedp waits for itself: a zombie of any
// other exec.Cmd must stay for its own Wait.
type reaper struct {
	log    *slog.Logger
	mu     sync.Mutex
	groups map[int]bool // process groups of every Chrome started; a group id is its leader's pid
	sig    chan os.Signal
	done   chan struct{}
}

const prSetChildSubreaper = 36

func startReaper(log *slog.Logger) *reaper {
	r := &reaper{log: log, groups: map[int]bool{}, sig: make(chan os.Signal, 1), done: make(chan struct{})}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		log.Warn("cannot become a child subreaper; zombies are left to the init process", "errno", errno)
	}
	signal.Notify(r.sig, syscall.SIGCHLD)
	go r.loop()
	return r
}

// track adds the group of a Chrome that was started with Setpgid.
func (r *reaper) track(pid int) {
	r.mu.Lock()
	r.groups[pid] = true
	r.mu.Unlock()
}

// tracks reports whether pgid is the group of a Chrome of this manager.
func (r *reaper) tracks(pgid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.groups[pgid]
}

func (r *reaper) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
		signal.Stop(r.sig)
	}
}

func (r *reaper) loop() {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-r.sig:
		case <-tick.C:
		}
		r.reap()
	}
}

// reap waits for every zombie child that nobody else waits for.
func (r *reaper) reap() int {
	self := os.Getpid()
	n := 0
	for _, p := range children(self) {
		if p.PPID != self || p.State != 'Z' || p.PID == p.PGRP {
			continue
		}
		if !r.tracks(p.PGRP) {
			continue
		}
		var ws syscall.WaitStatus
		if got, _ := syscall.Wait4(p.PID, &ws, syscall.WNOHANG, nil); got == p.PID {
			n++
		}
	}
	if n > 0 {
		r.log.Debug("reaped orphaned browser processes", "count", n)
	}
	return n
}

// children reads the service's own children from the kernel's lists: a
// few small reads, where a walk through every process on the machine took
// some 18 ms of CPU a time on a 2-core VM (at every SIGCHLD, and every 5 s).
// Without the lists (a kernel built without them) it is the walk.
func children(self int) []procstat.Stat {
	kids, ok := procstat.AllChildren(self)
	if !ok {
		return procstat.All()
	}
	out := make([]procstat.Stat, 0, len(kids))
	for _, k := range kids {
		if s, ok := procstat.Read(k); ok {
			out = append(out, s)
		}
	}
	return out
}
