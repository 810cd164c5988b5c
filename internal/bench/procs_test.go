package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// The breakdown by process is only as good as its reading of /proc: a child
// must be found in the tree, named by its --type, and its CPU counted in its
// role, including after it has exited and been waited for.
func TestSnapCPUCountsChildrenByRole(t *testing.T) {
	// A shell whose $0 is "--type=zygote" stands for Chrome's zygote: it
	// forks a busy child, waits for it, and then stays alive.
	zygote := exec.Command("sh", "-c", `sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'; sleep 30`, "--type=zygote")
	if err := zygote.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zygote.Process.Kill(); _ = zygote.Wait() })
	before := snapCPU(os.Getpid())

	// Wait until the busy child has exited: the zygote's children's time
	// then holds it.
	var dead float64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		p, ok := procstat.Read(zygote.Process.Pid)
		if !ok {
			t.Fatal("the stand-in zygote is not in /proc")
		}
		if dead = p.ChildCPU; dead > 0 {
			break
		}
	}
	if dead == 0 {
		t.Fatal("the busy child's CPU never reached its parent's children's time")
	}
	after := snapCPU(os.Getpid())

	pids := []int{}
	for _, p := range tree(os.Getpid()) {
		pids = append(pids, p.PID)
	}
	if !slices.Contains(pids, zygote.Process.Pid) {
		t.Fatalf("tree(%d) = %v, without the child %d", os.Getpid(), pids, zygote.Process.Pid)
	}
	if got := chromeRole(zygote.Process.Pid); got != "zygote" {
		t.Fatalf("chromeRole = %q, want zygote", got)
	}
	u := before.per(after, 1)
	if u.roles["renderers"] < dead {
		t.Fatalf("renderers = %.0f ms, want at least the exited child's %.0f ms", u.roles["renderers"], dead)
	}
	var sum float64
	for _, r := range roles {
		sum += u.roles[r]
	}
	if d := sum - u.total; d > 0.001 || d < -0.001 {
		t.Fatalf("roles add up to %.1f ms, the machine's total is %.1f ms", sum, u.total)
	}
}
