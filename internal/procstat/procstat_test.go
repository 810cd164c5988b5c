package procstat

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadsItself(t *testing.T) {
	s, ok := Read(os.Getpid())
	if !ok {
		t.Fatal("cannot read this process")
	}
	if s.PID != os.Getpid() || s.PPID != os.Getppid() || s.State == 'Z' || s.RSS < 1<<20 {
		t.Fatalf("got %+v, want pid %d, ppid %d, alive", s, os.Getpid(), os.Getppid())
	}
	found := false
	for _, p := range All() {
		found = found || p.PID == os.Getpid()
	}
	if !found {
		t.Fatal("All does not list this process")
	}
}

// A command name may hold spaces and parentheses, even one that looks like
// a state; the fields are those after the last ')'. Times are in ticks of
// 10 ms.
func TestCommandNameCannotForgeFields(t *testing.T) {
	line := "4242 (evil) Z 1 (x) S 77 4242 0 0 -1 0 0 0 0 0 150 50 30 20 20 0 1 0 0 8192 300\n"
	path := filepath.Join(t.TempDir(), "stat")
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	s, ok := readFile(path)
	if !ok {
		t.Fatal("did not parse")
	}
	want := Stat{PID: 4242, PPID: 77, PGRP: 4242, State: 'S', CPU: 2000, ChildCPU: 500, RSS: 300 * pageSize}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if err := os.WriteFile(path, []byte("4242 (short) S 1 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := readFile(path); ok {
		t.Fatal("a truncated line parsed")
	}
}
