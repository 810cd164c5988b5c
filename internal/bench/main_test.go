package main

import (
	"strings"
	"testing"
	"time"
)

// The paced series take turns, so that drift over the run falls on both.
func TestInTurnsAlternates(t *testing.T) {
	var order []string
	a := func() error { order = append(order, "a"); return nil }
	b := func() error { order = append(order, "b"); return nil }
	da, db := inTurns(3, time.Millisecond, a, b)
	if got := strings.Join(order, ""); got != "ababab" {
		t.Fatalf("order %q, want ababab", got)
	}
	if len(da) != 3 || len(db) != 3 {
		t.Fatalf("got %d and %d timings, want 3 each", len(da), len(db))
	}
}
