package browser

import (
	"bytes"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
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
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	n := 0
	for _, path := range stats {
		pid, ppid, pgrp, state, ok := readStat(path)
		if !ok || ppid != self || state != 'Z' || pid == pgrp {
			continue
		}
		r.mu.Lock()
		ours := r.groups[pgrp]
		r.mu.Unlock()
		if !ours {
			continue
		}
		var ws syscall.WaitStatus
		if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid {
			n++
		}
	}
	if n > 0 {
		r.log.Debug("reaped orphaned browser processes", "count", n)
	}
	return n
}

// readStat parses pid, parent pid, process group and state from
// /proc/<pid>/stat. The command name sits in parentheses and may itself
// contain spaces or parentheses, so the fields are read after the last one.
func readStat(path string) (pid, ppid, pgrp int, state byte, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, 0, 0, false
	}
	end := bytes.LastIndexByte(b, ')')
	sp := bytes.IndexByte(b, ' ')
	if end < 0 || sp < 0 {
		return 0, 0, 0, 0, false
	}
	fields := bytes.Fields(b[end+1:])
	if len(fields) < 3 {
		return 0, 0, 0, 0, false
	}
	var e1, e2, e3 error
	pid, e1 = strconv.Atoi(string(b[:sp]))
	ppid, e2 = strconv.Atoi(string(fields[1]))
	pgrp, e3 = strconv.Atoi(string(fields[2]))
	if e1 != nil || e2 != nil || e3 != nil {
		return 0, 0, 0, 0, false
	}
	return pid, ppid, pgrp, fields[0][0], true
}
