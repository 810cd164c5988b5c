package jobs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/logging"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
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

// One client's big batch neither fills the queue for everyone nor holds back
// another client's job: each client has its own allowance, and a free worker
// takes the client with the fewest tasks running first.
func TestEmbeddedQueueIsFairBetweenClients(t *testing.T) {
	var mu sync.Mutex
	var order []string
	release := make(chan struct{})
	run := func(_ context.Context, t Task) bool {
		<-release
		mu.Lock()
		order = append(order, t.ID)
		mu.Unlock()
		return false
	}
	q, err := OpenEmbedded(EmbeddedConfig{Dir: t.TempDir(), Max: 10, ClientMax: 6, Workers: 1, Run: run, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var batch []Task
	for i := range 6 {
		batch = append(batch, Task{ID: "big" + string(rune('0'+i)), Client: "big"})
	}
	if err := q.Enqueue(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), []Task{{ID: "big6", Client: "big"}}); err != ErrClientFull {
		t.Fatalf("past the client's allowance: %v", err)
	}
	q.Start()
	defer q.Close(time.Second)
	// The worker holds big0; small arrives behind five more of big's.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		q.mu.Lock()
		n := q.running["big"]
		q.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the worker never started")
		}
	}
	if err := q.Enqueue(context.Background(), []Task{{ID: "small", Client: "small"}}); err != nil {
		t.Fatalf("another client refused while the first fills its own allowance: %v", err)
	}
	close(release)
	for end := time.Now().Add(5 * time.Second); q.Pending() > 0 && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 7 || order[0] != "big0" || order[1] != "small" {
		t.Fatalf("ran %v; want small right after the task already running", order)
	}
	if len(q.byClient) != 0 || len(q.running) != 0 {
		t.Fatalf("counts left: %v %v", q.byClient, q.running)
	}
}

// An ended job's webhook is handed to the delivery queue, not sent from the
// capture worker; the delivery's failure is logged without the receiver's
// query string (Go's transport errors quote the whole URL).
func TestWebhookHandOffAndLogHasNoSecret(t *testing.T) {
	rec := records(t)
	ctx := context.Background()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	target := "http://" + ln.Addr().String() + "/hook?token=SUPERSECRET"
	ln.Close() // refused: a transport error
	logs := &bytes.Buffer{}
	sender := webhook.NewSender((&net.Dialer{}).DialContext)
	sender.Attempts = 1
	var queued []Task
	r := &Runner{Records: rec, Logger: logging.New(logs, slog.LevelInfo), Sender: sender,
		Keys:       func(string) [][]byte { return [][]byte{[]byte("0123456789abcdef0123456789abcdef")} },
		Capture:    func(context.Context, Task) Result { return Result{Format: "png"} },
		Deliveries: queueFunc(func(ts []Task) error { queued = append(queued, ts...); return nil })}
	task := newJob(t, rec, "000000000000000000000007")
	j, _ := Get(ctx, rec, "dev", task.ID)
	j.Webhook = &Delivery{URL: target, State: Pending}
	if err := Put(ctx, rec, j); err != nil {
		t.Fatal(err)
	}
	if again := r.Process(ctx, task); again || len(queued) != 1 || queued[0].ID != task.ID {
		t.Fatalf("again %v, handed off %v", again, queued)
	}
	if j, _ := Get(ctx, rec, "dev", task.ID); j.Webhook.State != Pending {
		t.Fatalf("the capture worker delivered: %+v", j.Webhook)
	}
	if r.Deliver(ctx, queued[0]) {
		t.Fatal("a refused delivery asked to run again")
	}
	if j, _ := Get(ctx, rec, "dev", task.ID); j.Webhook.State != Failed {
		t.Fatalf("delivery: %+v", j.Webhook)
	}
	if !strings.Contains(logs.String(), `"event":"webhook_failed"`) || strings.Contains(logs.String(), "SUPERSECRET") {
		t.Fatalf("the log: %s", logs.String())
	}
}

type queueFunc func([]Task) error

func (f queueFunc) Enqueue(_ context.Context, ts []Task) error { return f(ts) }

// A client at its running cap waits while another client's task runs.
func TestEmbeddedClientRunningCap(t *testing.T) {
	var mu sync.Mutex
	running, most := map[string]int{}, map[string]int{}
	run := func(_ context.Context, t Task) bool {
		mu.Lock()
		running[t.Client]++
		most[t.Client] = max(most[t.Client], running[t.Client])
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running[t.Client]--
		mu.Unlock()
		return false
	}
	q, err := OpenEmbedded(EmbeddedConfig{Dir: t.TempDir(), Max: 20, Workers: 4, ClientRunning: 1, Run: run, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []Task
	for i := range 6 {
		tasks = append(tasks, Task{ID: "a" + string(rune('0'+i)), Client: "a"}, Task{ID: "b" + string(rune('0'+i)), Client: "b"})
	}
	if err := q.Enqueue(context.Background(), tasks); err != nil {
		t.Fatal(err)
	}
	q.Start()
	for end := time.Now().Add(5 * time.Second); q.Pending() > 0 && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
	}
	q.Close(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if q.Pending() != 0 || most["a"] != 1 || most["b"] != 1 {
		t.Fatalf("pending %d, most at once %v; want 0 and 1 each", q.Pending(), most)
	}
}

// A job's spans continue its submit's trace through the queue: the job is
// a child of the submit's span (linked to the delivery that ran it), its
// capture runs in it, and its webhook, handed to the delivery queue,
// follows in the same trace.
func TestJobContinuesItsSubmitsTrace(t *testing.T) {
	rec := records(t)
	spans := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test")
	var queued []Task
	var inCapture trace.SpanContext
	sender := webhook.NewSender((&net.Dialer{}).DialContext)
	sender.Attempts = 1
	r := &Runner{Records: rec, Logger: quiet, Sender: sender, Tracer: tracer,
		Keys: func(string) [][]byte { return [][]byte{[]byte("0123456789abcdef0123456789abcdef")} },
		Capture: func(ctx context.Context, _ Task) Result {
			inCapture = trace.SpanContextFromContext(ctx)
			return Result{Format: "png"}
		},
		Deliveries: queueFunc(func(ts []Task) error { queued = append(queued, ts...); return nil })}
	task := newJob(t, rec, "000000000000000000000009")
	j, _ := Get(context.Background(), rec, "dev", task.ID)
	j.Webhook = &Delivery{URL: "http://127.0.0.1:1/hook", State: Pending}
	if err := Put(context.Background(), rec, j); err != nil {
		t.Fatal(err)
	}
	const traceID, submit = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	task.Trace = "00-" + traceID + "-" + submit + "-01"
	delivery, deliverySpan := tracer.Start(context.Background(), "POST /internal/tasks/capture")
	r.Process(delivery, task)
	deliverySpan.End()
	if len(queued) != 1 || !strings.Contains(queued[0].Trace, traceID) {
		t.Fatalf("the webhook's task does not carry the trace: %+v", queued)
	}
	r.Deliver(context.Background(), queued[0])

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byName[s.Name()] = s
	}
	job, hook := byName["job"], byName["webhook"]
	switch {
	case job == nil || hook == nil:
		t.Fatalf("spans: %v", byName)
	case job.SpanContext().TraceID().String() != traceID || job.Parent().SpanID().String() != submit:
		t.Errorf("job span %s, parent %s", job.SpanContext().TraceID(), job.Parent().SpanID())
	case len(job.Links()) != 1 || job.Links()[0].SpanContext.SpanID() != deliverySpan.SpanContext().SpanID():
		t.Errorf("the job is not linked to its delivery: %v", job.Links())
	case inCapture.SpanID() != job.SpanContext().SpanID():
		t.Errorf("the capture ran outside the job's span")
	case hook.SpanContext().TraceID().String() != traceID || hook.Parent().SpanID() != job.SpanContext().SpanID():
		t.Errorf("webhook span %s, parent %s", hook.SpanContext().TraceID(), hook.Parent().SpanID())
	}
}
