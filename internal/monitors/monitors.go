// Package monitors watches pages: a monitor is a client's capture options
// and a schedule; each run captures, compares with the previous run's
// capture, records both, and calls the client's webhook when the page
// changed past the monitor's threshold (monitor.changed) or its capture
// failed twice in a row (monitor.failed). What fires the runs is the
// scheduler package's; the capture is the server's pipeline (a seam).
package monitors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
)

// MinInterval is the closest two runs of one monitor may be.
const MinInterval = 5 * time.Minute

// keptRuns is how many runs a monitor's record lists, newest first.
const keptRuns = 20

// Monitor is one client's watch on a page, as stored. Its options never
// carry credentials (Refuse): the record lives at rest in the bucket.
type Monitor struct {
	ID        string          `json:"id"`
	Client    string          `json:"client"`
	Options   json.RawMessage `json:"options"`
	Schedule  string          `json:"schedule"`
	TimeZone  string          `json:"time_zone,omitempty"`
	Webhook   string          `json:"webhook_url,omitempty"`
	Threshold float64         `json:"threshold"`
	Created   time.Time       `json:"created_at"`
	// Base is the scheme and host the client created it at: local links
	// are made absolute with it.
	Base string `json:"base,omitempty"`
	// Last is the capture the next run compares with; LastSlot the
	// schedule time of the last run; Failures the failed runs in a row.
	Last     string    `json:"last_capture,omitempty"`
	LastSlot time.Time `json:"last_slot,omitzero"`
	Failures int       `json:"failures,omitempty"`
	Runs     []Run     `json:"runs,omitempty"`
}

// The outcomes of a run.
const (
	Baseline  = "baseline"  // nothing to compare with yet: this capture is the first
	Unchanged = "unchanged" // at or under the threshold
	Changed   = "changed"   // past the threshold
	Failed    = "failed"
)

// Run is one run of a monitor.
type Run struct {
	At        time.Time         `json:"at"` // the slot the schedule named
	Status    string            `json:"status"`
	Capture   string            `json:"capture_id,omitempty"`
	Diff      *imagediff.Result `json:"diff,omitempty"`
	ErrorType string            `json:"error_type,omitempty"`
	Message   string            `json:"message,omitempty"`
}

// Refuse names the first option a monitor may not store. A monitor's
// options are kept at rest for as long as it lives, so nothing that is a
// credential is taken (cookies, headers, a proxy's password; options refuses
// a URL's user information already), and the monitor itself sets what is compared.
func Refuse(o *options.Options) error {
	refuse := func(field, reason string) error { return &options.FieldError{Field: field, Reason: reason} }
	atRest := "is not taken by a monitor: its options are stored for as long as it lives, and credentials are not"
	switch {
	case len(o.Page.Cookies) > 0:
		return refuse("cookies", atRest)
	case len(o.CustomHeaders) > 0:
		return refuse("custom_headers", atRest)
	case strings.Contains(o.Proxy, "@"):
		return refuse("proxy", atRest+" (a proxy with user information); set UPSTREAM_PROXY on the service instead")
	case !o.IsImage():
		return refuse("format", "must be png, jpeg or webp for a monitor: runs are compared as images")
	case o.Diff != nil && (o.Diff.CompareTo != "" || o.Diff.Baseline != nil || o.Diff.FailRatio != nil):
		return refuse("compare_to", "is set by the monitor (each run compares with the last); use threshold for when to be told")
	case o.CacheTTL > 0:
		return refuse("cache_ttl", "would compare a capture with itself; a monitor's runs are never cached")
	}
	return nil
}

// NewID is a monitor's id (and a run's capture's): 12 random bytes in hex.
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrTooMany is a client at MONITORS_MAX.
var ErrTooMany = errors.New("monitors: the client has as many monitors as it may")

// index lists a client's monitors (GET /monitors; MONITORS_MAX). Every
// change is conditional on what was read, so two creations at once on two
// instances cannot both take the last place.
type index struct {
	IDs []string `json:"ids"`
	// Touched is when a run last rewrote the index: the bucket's lifecycle
	// deletes what is older than STORAGE_RETENTION.
	Touched time.Time `json:"touched_at"`
}

// indexKey names a client's index among its records.
const indexKey = "000000000000000000000000"

// editIndex applies edit to the client's index, retrying a write another
// writer won; edit returns false to leave it as it is.
func editIndex(ctx context.Context, rec jobs.Records, client string, edit func(*index) (bool, error)) error {
	for range 8 {
		cur, err := rec.GetRecord(ctx, client, "monitor-index", indexKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var ix index
		if err == nil {
			if err := json.Unmarshal(cur, &ix); err != nil {
				return fmt.Errorf("monitors: the index of %s: %w", client, err)
			}
		}
		change, eerr := edit(&ix)
		if eerr != nil || !change {
			return eerr
		}
		b, _ := json.Marshal(ix)
		if cur == nil {
			err = rec.CreateRecord(ctx, client, "monitor-index", indexKey, b)
		} else {
			err = rec.SwapRecord(ctx, client, "monitor-index", indexKey, cur, b)
		}
		if !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrChanged) {
			return err
		}
	}
	return errors.New("monitors: the index keeps changing; retry")
}

// Add records a new monitor, within max per client.
func Add(ctx context.Context, rec jobs.Records, m *Monitor, limit int, now time.Time) error {
	err := editIndex(ctx, rec, m.Client, func(ix *index) (bool, error) {
		if len(ix.IDs) >= limit {
			return false, ErrTooMany
		}
		ix.IDs, ix.Touched = append(ix.IDs, m.ID), now
		return true, nil
	})
	if err != nil {
		return err
	}
	b, _ := json.Marshal(m)
	if err := rec.PutRecord(ctx, m.Client, "monitors", m.ID, b); err != nil {
		Remove(context.WithoutCancel(ctx), rec, m.Client, m.ID) //nolint:errcheck // best effort: List skips ids without a record
		return err
	}
	return nil
}

// Remove deletes a monitor's record and its place in the index.
func Remove(ctx context.Context, rec jobs.Records, client, id string) error {
	if err := rec.DeleteRecord(ctx, client, "monitors", id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return editIndex(ctx, rec, client, func(ix *index) (bool, error) {
		i := slices.Index(ix.IDs, id)
		if i < 0 {
			return false, nil
		}
		ix.IDs = slices.Delete(ix.IDs, i, i+1)
		return true, nil
	})
}

// touch rewrites the index when it is older than a day, so that the
// lifecycle never deletes the index of a client whose monitors run.
func touch(ctx context.Context, rec jobs.Records, client string, now time.Time) error {
	return editIndex(ctx, rec, client, func(ix *index) (bool, error) {
		if now.Sub(ix.Touched) < 24*time.Hour || len(ix.IDs) == 0 {
			return false, nil
		}
		ix.Touched = now
		return true, nil
	})
}

// Get reads a monitor and the bytes it was read from (for a conditional write).
func Get(ctx context.Context, rec jobs.Records, client, id string) (*Monitor, []byte, error) {
	b, err := rec.GetRecord(ctx, client, "monitors", id)
	if err != nil {
		return nil, nil, err
	}
	var m Monitor
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("monitors: record %s: %w", id, err)
	}
	return &m, b, nil
}

// List reads a client's monitors in the order they were created.
func List(ctx context.Context, rec jobs.Records, client string) ([]*Monitor, error) {
	var ids []string
	err := editIndex(ctx, rec, client, func(ix *index) (bool, error) { ids = ix.IDs; return false, nil })
	if err != nil {
		return nil, err
	}
	out := make([]*Monitor, 0, len(ids))
	for _, id := range ids {
		m, _, err := Get(ctx, rec, client, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // being created or deleted right now
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
