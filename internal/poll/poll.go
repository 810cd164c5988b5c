// Package poll waits in tests for something that happens in the background
// (a browser restart, a key rotation, a tab opened after a response).
package poll

import (
	"testing"
	"time"
)

// Until checks cond every 20 ms and fails the test if it is still false
// after 30 s; what names it in the failure.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, 30*time.Second, what, cond)
}

// Within is Until with another limit.
func Within(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}
