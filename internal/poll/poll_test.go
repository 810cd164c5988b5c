package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	go func() {
		time.Sleep(100 * time.Millisecond)
		n.Store(1)
	}()
	Until(t, "the flag", func() bool { return n.Load() == 1 })
	if n.Load() != 1 {
		t.Fatal("returned before the condition held")
	}
}
