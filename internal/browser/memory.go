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
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		for _, p := range procstat.All() {
			if p.RSS <= max || p.PID == p.PGRP || !m.reaper.tracks(p.PGRP) || !isRenderer(p.PID) {
				continue
			}
			if err := syscall.Kill(p.PID, syscall.SIGKILL); err == nil {
				m.cfg.Logger.Warn("a renderer went over its memory limit and was ended", "event", "renderer_memory_exceeded",
					"pid", p.PID, "rss_bytes", p.RSS, "limit_bytes", max)
			}
		}
	}
}

func isRenderer(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && bytes.Contains(b, []byte("--type=renderer"))
}
