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
func Children(pid int) ([]int, bool) {
	p := strconv.Itoa(pid)
	b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
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
