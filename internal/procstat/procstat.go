// Package procstat reads /proc/PID/stat, for the code that has to see
// Chrome's processes as the kernel does: the reaper of orphaned zombies, the
// benchmark's CPU accounting, and the tests that look for leftovers.
package procstat

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// Stat is what the callers need of one process.
type Stat struct {
	PID, PPID, PGRP int
	State           byte    // 'R', 'S', 'Z', ...
	CPU             float64 // utime + stime, ms
	ChildCPU        float64 // cutime + cstime, ms: children it has waited for
	RSS             int64   // resident set, bytes
}

var pageSize = int64(os.Getpagesize())

// clockTicks is USER_HZ, the unit of the times in /proc: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// Read parses /proc/pid/stat; false if the process is gone or the line does
// not parse.
func Read(pid int) (Stat, bool) {
	return readFile("/proc/" + strconv.Itoa(pid) + "/stat")
}

// All reads every process there is.
func All() []Stat {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := make([]Stat, 0, len(paths))
	for _, p := range paths {
		if s, ok := readFile(p); ok {
			out = append(out, s)
		}
	}
	return out
}

// readFile parses one stat line. The command name sits in parentheses and
// may itself hold spaces or parentheses, so fields are read after the last.
func readFile(path string) (Stat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Stat{}, false
	}
	end := bytes.LastIndexByte(b, ')')
	sp := bytes.IndexByte(b, ' ')
	if end < 0 || sp < 0 {
		return Stat{}, false
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 22 || len(f[0]) == 0 {
		return Stat{}, false
	}
	var s Stat
	var errs [3]error
	s.PID, errs[0] = strconv.Atoi(string(b[:sp]))
	s.PPID, errs[1] = strconv.Atoi(string(f[1]))
	s.PGRP, errs[2] = strconv.Atoi(string(f[2]))
	for _, err := range errs {
		if err != nil {
			return Stat{}, false
		}
	}
	s.State = f[0][0]
	ticks := func(i int) float64 { v, _ := strconv.ParseFloat(string(f[i]), 64); return v }
	s.CPU = (ticks(11) + ticks(12)) * 1000 / clockTicks
	s.ChildCPU = (ticks(13) + ticks(14)) * 1000 / clockTicks
	rss, _ := strconv.ParseInt(string(f[21]), 10, 64)
	s.RSS = rss * pageSize
	return s, true
}

// Children lists the processes that pid's main thread started, from the
// kernel's own list (/proc/pid/task/pid/children): one small read instead
// of a walk through every process. false if the process is gone or the
// kernel keeps no such list.
func Children(pid int) ([]int, bool) { return threadChildren(pid, pid) }

func threadChildren(pid, tid int) ([]int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/children")
	if err != nil {
		return nil, false
	}
	f := bytes.Fields(b)
	out := make([]int, 0, len(f))
	for _, s := range f {
		if n, err := strconv.Atoi(string(s)); err == nil {
			out = append(out, n)
		}
	}
	return out, true
}

// Memory is pid's resident memory from /proc/pid/statm, in two parts:
// private (what only it holds: a page's allocations grow this) and shared
// (file-backed and shared pages, the same code and fonts in every Chrome
// process). false if the process is gone.
func Memory(pid int) (private, shared int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, 0, false
	}
	res, err1 := strconv.ParseInt(string(f[1]), 10, 64)
	sh, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return max(0, res-sh) * pageSize, sh * pageSize, true
}

// Descendants lists every process below pid: the children of each of pid's
// threads (Chrome's browser starts its helpers from several), then theirs
// from their main threads (a zygote is single-threaded; a renderer starts
// none).
func Descendants(pid int) []int {
	kids, _ := AllChildren(pid)
	var out []int
	for _, k := range kids {
		out = append(out, k)
		out = append(out, below(k)...)
	}
	return out
}

// AllChildren lists the processes any of pid's threads started (zombies
// included, until they are waited for); false if the kernel keeps no such
// list (or pid is gone), when only a walk through every process will do.
func AllChildren(pid int) ([]int, bool) {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	var out []int
	listed := false
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		kids, ok := threadChildren(pid, tid)
		listed = listed || ok
		out = append(out, kids...)
	}
	return out, listed
}

func below(pid int) []int {
	kids, _ := Children(pid)
	out := kids
	for _, k := range kids {
		out = append(out, below(k)...)
	}
	return out
}
