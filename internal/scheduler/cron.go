// Package scheduler fires monitors' runs: each monitor is a cron schedule
// that, when due, hands its run to the capture queue. On Cloud Run a Cloud
// Scheduler job per monitor calls the service's internal route; without it
// an embedded clock in the process does the same, durable in STORAGE_DIR.
package scheduler

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked against the IANA database, whatever the image has

	"github.com/robfig/cron/v3"
)

// The unix-cron Cloud Scheduler takes: five fields, no descriptors (@every
// has no Cloud Scheduler form) and no seconds.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ErrZone is a time zone that is not an IANA name.
var ErrZone = errors.New("must be an IANA time zone name, such as Europe/Paris")

// Parse reads a five-field cron expression in the IANA time zone tz
// (empty: UTC).
func Parse(spec, tz string) (cron.Schedule, error) {
	if len(spec) > 200 || strings.Contains(spec, "TZ=") {
		return nil, errors.New("must be a five-field cron expression (minute hour day month weekday)")
	}
	loc := time.UTC
	if tz != "" {
		var err error
		// "Local" loads (the machine's zone) but names no IANA zone.
		if loc, err = time.LoadLocation(tz); err != nil || len(tz) > 64 || tz == "Local" {
			return nil, ErrZone
		}
	}
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("must be a five-field cron expression (minute hour day month weekday): %v", err)
	}
	return inZone{s, loc}, nil
}

// inZone evaluates a schedule in its own time zone.
type inZone struct {
	s   cron.Schedule
	loc *time.Location
}

func (z inZone) Next(t time.Time) time.Time { return z.s.Next(t.In(z.loc)) }

// maxFirings bounds Check's walk: a year of runs every 5 minutes.
const maxFirings = 366 * 24 * 12

// Check refuses a schedule whose runs come closer than minGap or further
// apart than maxGap, over the next year from now: a run more often than
// the service allows, or less often than a run's capture is kept (the next
// run compares with it).
func Check(s cron.Schedule, now time.Time, minGap, maxGap time.Duration) error {
	prev := s.Next(now)
	if prev.IsZero() {
		return errors.New("never runs")
	}
	end := now.AddDate(1, 0, 1)
	if prev.Sub(now) > maxGap {
		return fmt.Errorf("must run at least every %s (captures are kept for STORAGE_RETENTION, and each run compares with the last)", maxGap)
	}
	for range maxFirings {
		next := s.Next(prev)
		switch gap := next.Sub(prev); {
		case next.IsZero() || gap > maxGap:
			return fmt.Errorf("must run at least every %s (captures are kept for STORAGE_RETENTION, and each run compares with the last)", maxGap)
		case gap < minGap:
			return fmt.Errorf("runs %s apart at %s; runs must be at least %s apart", gap, prev.UTC().Format(time.RFC3339), minGap)
		}
		if prev = next; prev.After(end) {
			return nil
		}
	}
	return nil
}
