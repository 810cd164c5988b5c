package server

import (
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"testing"
)

// A full disk, however deep in the chain, is the instance's condition, not
// the client's mistake nor a bug: 503 with Retry-After, the same words
// wherever it happened (a stored capture, the queue's file).
func TestFullDiskIs503(t *testing.T) {
	for _, err := range []error{
		errStorage{&fs.PathError{Op: "write", Path: "/tmp/pixashot/x", Err: syscall.ENOSPC}},
		fmt.Errorf("queue: %w", &fs.PathError{Op: "sync", Path: "/tmp/pixashot/.queue/y", Err: syscall.ENOSPC}),
	} {
		e := answer(err)
		if e.Status != http.StatusServiceUnavailable || e.RetryAfter == 0 || e.Message != "the instance's storage is full; retry shortly" {
			t.Errorf("%v: %d %q", err, e.Status, e.Message)
		}
	}
}
