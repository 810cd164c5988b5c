package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/pixashot/pixashot-cloudrun/internal/durable"
)

// Fire hands one run of a monitor to the queue; slot is the time the
// schedule named (two firings of one slot are one run).
type Fire func(ctx context.Context, client, id string, slot time.Time) error

// Embedded is the clock without Cloud Scheduler: one file per monitor in a
// directory (STORAGE_DIR/.monitors), written and synced before Put
// returns, so a restart finds every schedule. Runs missed while the
// process was down are not made up: the next due one runs.
type Embedded struct {
	dir  string
	fire Fire
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]*entry // by monitor id
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

type entry struct {
	Client   string `json:"client"`
	ID       string `json:"id"`
	Schedule string `json:"schedule"`
	TimeZone string `json:"time_zone,omitempty"`
	sched    cron.Schedule
	next     time.Time
}

var monitorID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// OpenEmbedded reads the schedules a previous process left.
func OpenEmbedded(dir string, fire Fire, log *slog.Logger) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	e := &Embedded{dir: dir, fire: fire, log: log, now: time.Now, entries: map[string]*entry{}, wake: make(chan struct{}, 1)}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		var en entry
		b, err := os.ReadFile(n)
		if err == nil {
			err = json.Unmarshal(b, &en)
		}
		if err == nil {
			en.sched, err = Parse(en.Schedule, en.TimeZone)
		}
		if err != nil || !monitorID.MatchString(en.ID) {
			log.Error("an unreadable schedule is left aside", "event", "schedule_corrupt", "file", filepath.Base(n), "error", err)
			os.Rename(n, n+".bad") //nolint:errcheck // best effort
			continue
		}
		en.next = en.sched.Next(e.now())
		e.entries[en.ID] = &en
	}
	return e, nil
}

// Put schedules a monitor (or replaces its schedule); durable on return.
func (e *Embedded) Put(_ context.Context, client, id, spec, tz string) error {
	s, err := Parse(spec, tz)
	if err != nil {
		return err
	}
	if !monitorID.MatchString(id) {
		return errors.New("scheduler: not a monitor id")
	}
	en := &entry{Client: client, ID: id, Schedule: spec, TimeZone: tz, sched: s}
	b, _ := json.Marshal(en)
	name := filepath.Join(e.dir, id+".json")
	if err := durable.WriteFile(name, b); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	if err := durable.SyncDir(e.dir); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	e.mu.Lock()
	en.next = s.Next(e.now())
	e.entries[id] = en
	e.mu.Unlock()
	e.poke()
	return nil
}

// Delete unschedules a monitor; one that is not scheduled is no error.
func (e *Embedded) Delete(_ context.Context, _, id string) error {
	if !monitorID.MatchString(id) {
		return nil
	}
	e.mu.Lock()
	delete(e.entries, id)
	e.mu.Unlock()
	if err := os.Remove(filepath.Join(e.dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("scheduler: %w", err)
	}
	durable.SyncDir(e.dir) //nolint:errcheck // a deletion lost to a crash is undone by the run that finds no monitor
	e.poke()
	return nil
}

func (e *Embedded) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Start fires due runs until Close.
func (e *Embedded) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go e.loop(ctx)
}

// Close stops the clock.
func (e *Embedded) Close() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
}

func (e *Embedded) loop(ctx context.Context) {
	defer close(e.done)
	for {
		wait := e.fireDue(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-e.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// fireDue fires every run whose slot has come and says how long until the
// next one (at most a minute: the wall clock may jump).
func (e *Embedded) fireDue(ctx context.Context) time.Duration {
	now := e.now()
	type due struct {
		client, id string
		slot       time.Time
	}
	var fire []due
	wait := time.Minute
	e.mu.Lock()
	for _, en := range e.entries {
		if en.next.IsZero() {
			continue // a schedule that never runs (Check refuses it at creation)
		}
		if !en.next.After(now) {
			fire = append(fire, due{en.Client, en.ID, en.next})
			en.next = en.sched.Next(now)
		}
		if !en.next.IsZero() {
			wait = min(wait, en.next.Sub(now))
		}
	}
	e.mu.Unlock()
	for _, d := range fire {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := e.fire(fctx, d.client, d.id, d.slot); err != nil {
			e.log.Warn("a monitor's run could not be queued; the next slot runs it", "event", "monitor_skipped",
				"monitor", d.id, "client", d.client, "error", err)
		}
		cancel()
	}
	return max(wait, 0)
}
