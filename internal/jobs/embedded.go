package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Embedded is the queue without Cloud Tasks: one file per task in a
// directory (STORAGE_DIR/.queue), written and synced before Enqueue returns
// and removed only when the task has ended, so a process killed at any
// point finds every accepted task again at its next start.
type Embedded struct {
	dir     string
	max     int
	workers int
	run     func(ctx context.Context, t Task) bool // Runner.Process
	log     *slog.Logger
	retry   time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	ready   []entry // in order of submission
	pending int     // files on disk: ready, running and waiting to retry
	seq     int64
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type entry struct {
	file string
	task Task
}

// EmbeddedConfig configures the embedded queue.
type EmbeddedConfig struct {
	Dir     string
	Max     int // QUEUE_MAX: tasks waiting or running
	Workers int // captures at once from the queue
	Run     func(ctx context.Context, t Task) bool
	Logger  *slog.Logger
	Retry   time.Duration // before a task that asked to run again does; default 2s
}

// OpenEmbedded opens the directory and takes up what a previous process left.
func OpenEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q := &Embedded{dir: cfg.Dir, max: cfg.Max, workers: max(1, cfg.Workers), run: cfg.Run, log: cfg.Logger, retry: cfg.Retry}
	if q.retry <= 0 {
		q.retry = 2 * time.Second
	}
	q.cond = sync.NewCond(&q.mu)
	// A write cut before its rename never became a task: nothing accepted it.
	torn, _ := filepath.Glob(filepath.Join(cfg.Dir, "*.task.tmp"))
	for _, n := range torn {
		os.Remove(n)
	}
	names, err := filepath.Glob(filepath.Join(cfg.Dir, "*.task"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names) // the sequence number leads the name: submission order
	for _, n := range names {
		b, err := os.ReadFile(n)
		var t Task
		if err == nil {
			err = json.Unmarshal(b, &t)
		}
		if err != nil {
			// A torn write never gets this far (rename is the commit), so
			// this is damage from outside: keep it for a person, skip it.
			q.log.Error("an unreadable queue entry is left aside", "event", "queue_corrupt", "file", filepath.Base(n), "error", err)
			os.Rename(n, n+".bad") //nolint:errcheck // best effort
			continue
		}
		q.ready = append(q.ready, entry{file: n, task: t})
		if s, err := strconv.ParseInt(strings.SplitN(filepath.Base(n), "-", 2)[0], 10, 64); err == nil && s > q.seq {
			q.seq = s
		}
	}
	q.pending = len(q.ready)
	if q.pending > 0 {
		q.log.Info("resuming queued captures", "event", "queue_resumed", "tasks", q.pending)
	}
	return q, nil
}

// Start runs the workers until Close.
func (q *Embedded) Start() {
	q.ctx, q.cancel = context.WithCancel(context.Background())
	for range q.workers {
		q.wg.Add(1)
		go q.work()
	}
}

// Pending is the number of tasks not yet ended.
func (q *Embedded) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending
}

// Enqueue writes every task durably, or none (ErrFull when they would not fit).
func (q *Embedded) Enqueue(_ context.Context, tasks []Task) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("queue: closed")
	}
	if q.max > 0 && q.pending+len(tasks) > q.max {
		q.mu.Unlock()
		return ErrFull
	}
	q.pending += len(tasks) // reserved while the files are written
	first := q.seq + 1
	q.seq += int64(len(tasks))
	q.mu.Unlock()
	entries := make([]entry, 0, len(tasks))
	for i, t := range tasks {
		name := filepath.Join(q.dir, fmt.Sprintf("%020d-%s.task", first+int64(i), t.ID))
		if err := writeSynced(name, t); err != nil {
			for _, e := range entries {
				os.Remove(e.file)
			}
			q.mu.Lock()
			q.pending -= len(tasks)
			q.mu.Unlock()
			return fmt.Errorf("queue: %w", err)
		}
		entries = append(entries, entry{file: name, task: t})
	}
	if err := syncDir(q.dir); err != nil {
		q.log.Warn("syncing the queue directory failed", "event", "queue_error", "error", err)
	}
	q.mu.Lock()
	q.ready = append(q.ready, entries...)
	q.cond.Broadcast()
	q.mu.Unlock()
	return nil
}

// writeSynced writes a file so that it exists whole or not at all.
func writeSynced(name string, t Task) error {
	b, _ := json.Marshal(t)
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (q *Embedded) next() (entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return entry{}, false
	}
	e := q.ready[0]
	q.ready = q.ready[1:]
	return e, true
}

func (q *Embedded) work() {
	defer q.wg.Done()
	for {
		e, ok := q.next()
		if !ok {
			return
		}
		if q.run(q.ctx, e.task) {
			if q.ctx.Err() != nil {
				return // the file stays: the next start runs it
			}
			time.AfterFunc(q.retry, func() {
				q.mu.Lock()
				q.ready = append(q.ready, e)
				q.cond.Broadcast()
				q.mu.Unlock()
			})
			continue
		}
		if err := os.Remove(e.file); err != nil {
			q.log.Warn("a finished task's file could not be removed", "event", "queue_error", "error", err)
		}
		q.mu.Lock()
		q.pending--
		q.mu.Unlock()
	}
}

// Stop stops taking tasks (SIGTERM); those running go on until Close.
func (q *Embedded) Stop() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Close stops taking tasks, waits up to grace for the running ones, then
// cancels them; what did not end stays on disk for the next start.
func (q *Embedded) Close(grace time.Duration) {
	q.Stop()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	if q.cancel == nil {
		return // never started
	}
	select {
	case <-done:
	case <-time.After(grace):
		q.cancel()
		<-done
	}
	q.cancel()
}
