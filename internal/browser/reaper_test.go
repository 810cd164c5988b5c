package browser

import (
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// A helper orphaned by its Chrome (here a shell that exits at once, leaving
// its sleep behind) becomes the service's child, and its zombie is waited
// for; a zombie of a group that is not a Chrome's stays for its own Wait.
func TestReaperWaitsForOrphansOfTrackedGroups(t *testing.T) {
	r := startReaper(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer r.stop()
	orphan := func(track bool) int {
		cmd := exec.Command("sh", "-c", "sleep 0.2 & echo $!")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if track {
			r.track(cmd.Process.Pid)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	tracked, other := orphan(true), orphan(false)
	defer syscall.Wait4(other, nil, 0, nil)
	deadline := time.Now().Add(10 * time.Second)
	waitFor := func(what string, done func() bool) {
		for !done() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the orphan of a tracked group was never waited for", func() bool {
		_, alive := procstat.Read(tracked)
		return !alive
	})
	waitFor("the orphan of an untracked group never became the service's zombie", func() bool {
		s, ok := procstat.Read(other)
		return ok && s.State == 'Z'
	})
	r.reap()
	if s, ok := procstat.Read(other); !ok || s.State != 'Z' {
		t.Fatalf("the zombie of an untracked group was waited for (%+v, %v); it is left for its own Wait", s, ok)
	}
}
