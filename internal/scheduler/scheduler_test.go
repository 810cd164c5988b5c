package scheduler

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/poll"
)

func TestCheck(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	for _, c := range []struct {
		spec, tz, want string // want: a part of the error; empty: accepted
	}{
		{"*/5 * * * *", "", ""},
		{"0 9 * * 1-5", "Europe/Paris", ""},
		{"30 2 * * *", "America/New_York", ""}, // a day without 02:30 (DST) still runs within the week
		{"*/4 * * * *", "", "at least 5m0s apart"},
		{"0,3 * * * *", "", "at least 5m0s apart"},
		{"0 0 1 * *", "", "at least every"}, // monthly: longer than captures are kept
		{"0 0 29 2 *", "", "at least every"},
		{"0 0 30 2 *", "", "never runs"},
		{"@every 1h", "", "five-field"},
		{"* * * * * *", "", "five-field"},
		{"CRON_TZ=UTC 0 * * * *", "", "five-field"},
		{"0 * * * *", "Mars/Olympus", "IANA"},
		{"0 * * * *", "/etc/localtime", "IANA"},
		{"0 * * * *", "Local", "IANA"},
	} {
		s, err := Parse(c.spec, c.tz)
		if err == nil {
			err = Check(s, now, 5*time.Minute, week-time.Hour)
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.spec, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want an error with %q", c.spec, err, c.want)
		}
	}
}

// The embedded clock fires each due slot once, survives a restart, and
// forgets a deleted schedule.
func TestEmbedded(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var fired []string
	var now = time.Date(2026, 12, 6, 10, 2, 0, 0, time.UTC)
	fire := func(_ context.Context, client, id string, slot time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		fired = append(fired, client+"/"+id+"@"+slot.Format("15:04"))
		return nil
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() *Embedded {
		e, err := OpenEmbedded(dir, fire, log)
		if err != nil {
			t.Fatal(err)
		}
		e.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		return e
	}
	e := open()
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbb"
	if err := e.Put(context.Background(), "c1", a, "*/5 * * * *", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(context.Background(), "c2", b, "0 * * * *", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Put(context.Background(), "c2", "../../etc", "0 * * * *", ""); err == nil {
		t.Error("a schedule named outside its directory was taken")
	}
	e.Start()
	advance := func(to string) {
		mu.Lock()
		now, _ = time.Parse(time.RFC3339, "2026-12-06T"+to+":00Z")
		mu.Unlock()
		e.poke()
	}
	want := func(n int) {
		poll.Within(t, 10*time.Second, "firings", func() bool { mu.Lock(); defer mu.Unlock(); return len(fired) >= n })
		time.Sleep(50 * time.Millisecond) // and no more
		mu.Lock()
		defer mu.Unlock()
		if len(fired) != n {
			t.Fatalf("fired %v, want %d", fired, n)
		}
	}
	advance("10:05")
	want(1)
	advance("10:07")
	want(1)
	advance("11:00") // both due; a's missed slots are not made up
	want(3)
	e.Close()
	mu.Lock()
	got := strings.Join(fired, " ")
	mu.Unlock()
	if got != "c1/"+a+"@10:05 c1/"+a+"@10:10 c2/"+b+"@11:00" && got != "c1/"+a+"@10:05 c2/"+b+"@11:00 c1/"+a+"@10:10" {
		t.Errorf("fired %s", got)
	}
	// A restart reads both schedules back; a deletion is durable too.
	e = open()
	if len(e.entries) != 2 || e.entries[a].Client != "c1" || e.entries[b].Schedule != "0 * * * *" {
		t.Fatalf("after a restart: %+v", e.entries)
	}
	if err := e.Delete(context.Background(), "c1", a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, a+".json")); !os.IsNotExist(err) {
		t.Errorf("a deleted schedule's file: %v", err)
	}
	if e = open(); len(e.entries) != 1 {
		t.Errorf("after a deletion and a restart: %+v", e.entries)
	}
}
