package browser

import (
	"slices"
	"testing"

	"github.com/pixashot/pixashot-cloudrun/internal/poll"
	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// The watchdog's cheap look (the zygotes' children) sees exactly the
// renderers a full look at every process sees, as tabs open and close, and
// follows a replaced browser to its new group.
func TestWatchdogSeesEveryRenderer(t *testing.T) {
	m, ctx := started(t, Config{RecycleAfter: 3})
	zygotes := map[int][]int{}
	// renderers as the watchdog sees them, and as a walk of /proc does.
	cheap := func(g int) []int {
		var out []int
		for _, p := range renderers(g, zygotes, -1) {
			out = append(out, p.PID)
		}
		slices.Sort(out)
		return out
	}
	full := func(g int) []int {
		var out []int
		for _, p := range procstat.All() {
			if p.PGRP == g && p.State != 'Z' && isRenderer(p.PID) {
				out = append(out, p.PID)
			}
		}
		slices.Sort(out)
		return out
	}
	same := func(want int) {
		t.Helper()
		g := m.PID()
		if !m.liveGroups()[g] {
			t.Fatalf("the running browser's group %d is not watched: %v", g, m.liveGroups())
		}
		var c, f []int
		poll.Until(t, "both looks to agree", func() bool {
			c, f = cheap(g), full(g)
			return len(zygotes[g]) > 0 && len(f) == want && slices.Equal(c, f)
		})
	}
	cheap(m.PID()) // the first look is the full one; it finds the zygotes
	if len(zygotes[m.PID()]) == 0 {
		t.Fatal("no zygote found: every check would list every process")
	}
	var tabs []*Tab
	for range 2 {
		tb, err := m.NewTab(ctx, TabOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, tb)
	}
	same(2)
	tabs[0].Close()
	same(1)
	tabs[1].Close()
	first := m.PID()
	tb, err := m.NewTab(ctx, TabOptions{}) // the RecycleAfter-th: replaced
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	poll.Until(t, "the browser to be replaced and the old one to end", func() bool {
		p := m.PID()
		return p != 0 && p != first && !m.liveGroups()[first]
	})
	tb, err = m.NewTab(ctx, TabOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	same(1)
}
