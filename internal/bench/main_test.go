package main

import (
	"strings"
	"testing"
	"time"
)

// The paced series take turns, so that drift over the run falls on all.
func TestInTurnsAlternates(t *testing.T) {
	var order []string
	a := func() error { order = append(order, "a"); return nil }
	b := func() error { order = append(order, "b"); return nil }
	c := func() error { order = append(order, "c"); return nil }
	da, db, dc := inTurns(3, time.Millisecond, a, b, c)
	if got := strings.Join(order, ""); got != "abcabcabc" {
		t.Fatalf("order %q, want abcabcabc", got)
	}
	if len(da) != 3 || len(db) != 3 || len(dc) != 3 {
		t.Fatalf("got %d, %d and %d timings, want 3 each", len(da), len(db), len(dc))
	}
}
