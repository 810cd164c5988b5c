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

	"github.com/pixashot/pixashot-cloudrun/internal/durable"
)

// Embedded is the queue without Cloud Tasks: one file per task in a
// directory (STORAGE_DIR/.queue), written and synced before Enqueue returns
// and removed only when the task has ended, so a process killed at any
// point finds every accepted task again at its next start.
type Embedded struct {
	dir       string
	max       int
	clientMax int
	clientRun int
	workers   int
	run       func(ctx context.Context, t Task) bool // Runner.Process
	log       *slog.Logger
	retry     time.Duration

	mu       sync.Mutex
	cond     *sync.Cond
	ready    []entry          // in order of submission
	pending  int              // files on disk: ready, running and waiting to retry
	byClient map[string]int   // pending, by client
	running  map[string]int   // running, by client
	served   map[string]int64 // when each client's last task started (a count)
	starts   int64
	seq      int64
	closed   bool

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
	Dir string
	Max int // QUEUE_MAX: tasks waiting or running
	// CLIENT_QUEUE_MAX: tasks of one client waiting or running; 0, no cap.
	ClientMax int
	// Tasks of one client running at once; 0, up to Workers.
	ClientRunning int
	Workers       int // captures at once from the queue
	Run           func(ctx context.Context, t Task) bool
	Logger        *slog.Logger
	Retry         time.Duration // before a task that asked to run again does; default 2s
}

// OpenEmbedded opens the directory and takes up what a previous process left.
func OpenEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q := &Embedded{dir: cfg.Dir, max: cfg.Max, clientMax: cfg.ClientMax, clientRun: cfg.ClientRunning, workers: max(1, cfg.Workers), run: cfg.Run,
		log: cfg.Logger, retry: cfg.Retry, byClient: map[string]int{}, running: map[string]int{}, served: map[string]int64{}}
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
		q.byClient[t.Client]++
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

// Enqueue writes every task durably, or none (ErrFull when they would not
// fit, ErrClientFull when they would not fit in their client's allowance).
func (q *Embedded) Enqueue(_ context.Context, tasks []Task) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("queue: closed")
	}
	added := map[string]int{}
	for _, t := range tasks {
		added[t.Client]++
	}
	for c, n := range added {
		if q.clientMax > 0 && q.byClient[c]+n > q.clientMax {
			q.mu.Unlock()
			return ErrClientFull
		}
	}
	if q.max > 0 && q.pending+len(tasks) > q.max {
		q.mu.Unlock()
		return ErrFull
	}
	q.pending += len(tasks) // reserved while the files are written
	for c, n := range added {
		q.count(c, n)
	}
	first := q.seq + 1
	q.seq += int64(len(tasks))
	q.mu.Unlock()
	entries := make([]entry, 0, len(tasks))
	for i, t := range tasks {
		name := filepath.Join(q.dir, fmt.Sprintf("%020d-%s.task", first+int64(i), t.ID))
		b, _ := json.Marshal(t)
		if err := durable.WriteFile(name, b); err != nil {
			for _, e := range entries {
				os.Remove(e.file)
			}
			q.mu.Lock()
			q.pending -= len(tasks)
			for c, n := range added {
				q.count(c, -n)
			}
			q.mu.Unlock()
			return fmt.Errorf("queue: %w", err)
		}
		entries = append(entries, entry{file: name, task: t})
	}
	if err := durable.SyncDir(q.dir); err != nil {
		q.log.Warn("syncing the queue directory failed", "event", "queue_error", "error", err)
	}
	q.mu.Lock()
	q.ready = append(q.ready, entries...)
	q.cond.Broadcast()
	q.mu.Unlock()
	return nil
}

func (q *Embedded) next() (entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	best := -1
	for !q.closed {
		if best = q.pick(); best >= 0 {
			break
		}
		q.cond.Wait()
	}
	if q.closed {
		return entry{}, false
	}
	e := q.ready[best]
	q.ready = append(q.ready[:best], q.ready[best+1:]...)
	q.running[e.task.Client]++
	q.starts++
	q.served[e.task.Client] = q.starts
	return e, true
}

// pick is the ready task to run next, -1 for none: the client with the
// fewest tasks running goes first, then the one served longest ago, then
// submission order, so one client's batch never holds back another
// client's job; a client at its running cap waits. Called with mu held.
func (q *Embedded) pick() int {
	best := -1
	for i, e := range q.ready {
		c := e.task.Client
		if q.clientRun > 0 && q.running[c] >= q.clientRun {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := q.ready[best].task.Client
		if q.running[c] < q.running[b] || q.running[c] == q.running[b] && q.served[c] < q.served[b] {
			best = i
		}
	}
	return best
}

// count adds n to client's pending tasks; a client with none left is
// forgotten. Called with mu held.
func (q *Embedded) count(client string, n int) {
	if q.byClient[client] += n; q.byClient[client] <= 0 {
		delete(q.byClient, client)
		delete(q.served, client)
	}
}

// ran marks a task of client as no longer running, and ended (ended) or
// to be put back; a worker waiting on the client's running cap may go on.
func (q *Embedded) ran(client string, ended bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cond.Broadcast()
	if q.running[client]--; q.running[client] <= 0 {
		delete(q.running, client)
	}
	if ended {
		q.pending--
		q.count(client, -1)
	}
}

func (q *Embedded) work() {
	defer q.wg.Done()
	for {
		e, ok := q.next()
		if !ok {
			return
		}
		if q.run(q.ctx, e.task) {
			q.ran(e.task.Client, false)
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
		q.ran(e.task.Client, true)
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
