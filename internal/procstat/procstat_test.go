package procstat

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
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

// Children is the kernel's list of what a single-threaded process started.
func TestChildren(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sh.Process.Kill(); _ = sh.Wait() }()
	var kids []int
	for range 200 {
		var ok bool
		if kids, ok = Children(sh.Process.Pid); !ok {
			t.Fatal("no list of children")
		}
		if len(kids) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(kids) != 2 {
		t.Fatalf("children %v, want the two sleeps", kids)
	}
	for _, k := range kids {
		if s, ok := Read(k); !ok || s.PPID != sh.Process.Pid {
			t.Fatalf("%d: %+v, not a child of %d", k, s, sh.Process.Pid)
		}
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	if _, ok := Children(1 << 30); ok {
		t.Fatal("a process that does not exist has children")
	}
}

// A grandchild started from another thread of this (multi-threaded) process
// is found, and a process's private memory grows with what it touches.
func TestDescendantsAndPrivate(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The shell, then its sleep right after it (other tests may have
	// children of this process too).
	var found []int
	ok := false
	for end := time.Now().Add(5 * time.Second); !ok && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		found = Descendants(os.Getpid())
		i := slices.Index(found, cmd.Process.Pid)
		if i >= 0 && i+1 < len(found) {
			s, _ := Read(found[i+1])
			ok = s.PPID == cmd.Process.Pid
		}
	}
	if !ok {
		t.Fatalf("descendants %v, want the shell %d and its sleep", found, cmd.Process.Pid)
	}
	before, shared, ok := Memory(os.Getpid())
	if !ok || before <= 0 || shared <= 0 {
		t.Fatalf("private %d, shared %d, %v", before, shared, ok)
	}
	// Fresh anonymous pages (the Go heap may reuse what it holds).
	buf, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(buf) //nolint:errcheck // the test's own mapping
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after, _, _ := Memory(os.Getpid())
	if after-before < 60<<20 {
		t.Errorf("64 MiB touched, private grew by %d", after-before)
	}
}
