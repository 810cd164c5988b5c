package jobs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

func records(t *testing.T) *store.Store {
	t.Helper()
	d, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return store.New(d, store.Config{URLTTL: time.Minute, Retention: time.Hour})
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newJob(t *testing.T, rec Records, id string) Task {
	t.Helper()
	if err := Put(context.Background(), rec, &Job{ID: id, Client: "dev", Status: Queued, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return Task{ID: id, Client: "dev", Request: []byte(`{}`)}
}

func TestRunnerStates(t *testing.T) {
	rec := records(t)
	ctx := context.Background()
	var calls atomic.Int32
	results := map[string][]Result{}
	r := &Runner{Records: rec, Logger: quiet, Keys: func(string) [][]byte { return nil },
		Capture: func(_ context.Context, t Task) Result {
			calls.Add(1)
			rs := results[t.ID]
			res := rs[0]
			results[t.ID] = rs[1:]
			return res
		}}
	for _, c := range []struct {
		id      string
		results []Result
		runs    []bool // Process's answers, one per run
		status  string
		tries   int
	}{
		{"000000000000000000000001", []Result{{Format: "png", Bytes: 10}}, []bool{false}, Done, 1},
		{"000000000000000000000002", []Result{{ErrorType: "NavigationError", Message: "no"}}, []bool{false}, Failed, 1},
		// No slot twice: not attempts; then done on the first real try.
		{"000000000000000000000003", []Result{{Busy: true}, {Busy: true}, {Format: "png"}}, []bool{true, true, false}, Done, 1},
		// A transient failure is retried, up to three attempts.
		{"000000000000000000000004", []Result{{Retry: true, ErrorType: "Overloaded"}, {Retry: true, ErrorType: "Overloaded"}, {Retry: true, ErrorType: "Overloaded"}},
			[]bool{true, true, false}, Failed, 3},
	} {
		task := newJob(t, rec, c.id)
		results[c.id] = c.results
		for i, want := range c.runs {
			if again := r.Process(ctx, task); again != want {
				t.Errorf("%s run %d: again %v", c.id, i, again)
			}
		}
		j, _ := Get(ctx, rec, "dev", c.id)
		if j.Status != c.status || j.Attempts != c.tries {
			t.Errorf("%s: %s after %d attempts, want %s after %d", c.id, j.Status, j.Attempts, c.status, c.tries)
		}
	}
	// A job that is done is never captured again.
	before := calls.Load()
	if again := r.Process(ctx, Task{ID: "000000000000000000000001", Client: "dev"}); again || calls.Load() != before {
		t.Error("a done job was captured again")
	}
	// The queue's last attempt: the job ends failed, and a done one stays done.
	task4 := newJob(t, rec, "000000000000000000000006")
	r.Abandon(ctx, task4, "Overloaded", "retries ran out")
	if j, _ := Get(ctx, rec, "dev", task4.ID); j.Status != Failed || j.ErrorType != "Overloaded" {
		t.Errorf("abandoned: %+v", j)
	}
	r.Abandon(ctx, Task{ID: "000000000000000000000001", Client: "dev"}, "Overloaded", "x")
	if j, _ := Get(ctx, rec, "dev", "000000000000000000000001"); j.Status != Done {
		t.Error("abandoning a done job changed it")
	}
	// A shutdown mid-capture leaves the job to run again.
	task := newJob(t, rec, "000000000000000000000005")
	cctx, cancel := context.WithCancel(ctx)
	r.Capture = func(context.Context, Task) Result { cancel(); return Result{ErrorType: "CaptureTimeout"} }
	if !r.Process(cctx, task) {
		t.Error("a capture cut by shutdown was not left to run again")
	}
	if j, _ := Get(ctx, rec, "dev", task.ID); j.Status == Failed {
		t.Error("a capture cut by shutdown was recorded failed")
	}
}

func TestEmbeddedQueueBoundsAndResumes(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	ran := map[string]int{}
	block := make(chan struct{})
	run := func(_ context.Context, t Task) bool {
		<-block
		mu.Lock()
		ran[t.ID]++
		mu.Unlock()
		return false
	}
	q, err := OpenEmbedded(EmbeddedConfig{Dir: dir, Max: 3, Workers: 1, Run: run, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tasks := []Task{{ID: "a1", Client: "dev"}, {ID: "a2", Client: "dev"}}
	if err := q.Enqueue(context.Background(), tasks); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), []Task{{ID: "a3"}, {ID: "a4"}}); err != ErrFull {
		t.Errorf("over QUEUE_MAX: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.task"))
	if len(files) != 2 {
		t.Fatalf("%d files for 2 accepted tasks (and none for refused ones)", len(files))
	}
	// A new process on the directory finds both, in order, and runs each once.
	q2, err := OpenEmbedded(EmbeddedConfig{Dir: dir, Max: 3, Workers: 2, Run: run, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if q2.Pending() != 2 {
		t.Fatalf("resumed %d", q2.Pending())
	}
	os.WriteFile(filepath.Join(dir, "00000000000000000009-bad.task"), []byte("{"), 0o600) //nolint:errcheck // checked by the next open
	close(block)
	q2.Start()
	for end := time.Now().Add(5 * time.Second); q2.Pending() > 0 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
	}
	q2.Close(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if ran["a1"] != 1 || ran["a2"] != 1 || len(ran) != 2 {
		t.Errorf("ran %v", ran)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.task")); len(files) != 1 {
		t.Errorf("files left: %v (want only the damaged one, which this queue did not read)", files)
	}
	q3, err := OpenEmbedded(EmbeddedConfig{Dir: dir, Max: 3, Workers: 1, Run: run, Logger: quiet})
	if err != nil || q3.Pending() != 0 {
		t.Errorf("a damaged entry: %v, %d pending", err, q3.Pending())
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000009-bad.task.bad")); err != nil {
		t.Error("the damaged entry was not set aside")
	}
}
