package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/jobs"
	"github.com/pixashot/pixashot-cloudrun/internal/store"
	"github.com/pixashot/pixashot-cloudrun/internal/store/gcstest"
)

type keyed struct {
	status int
	header http.Header
	body   string
}

func postWithKey(t *testing.T, e *routeEnv, key, body string) keyed {
	t.Helper()
	req, _ := http.NewRequest("POST", e.ts.URL+"/captures", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return keyed{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return keyed{resp.StatusCode, resp.Header, string(b)}
}

// Instances that share a bucket, each with its own in-process lock, get the
// same Idempotency-Key at the same moment: one submission is queued, every
// other request replays its answer or is told to retry (409), and the key
// is freed when a submission fails and taken over when its claim is stale.
func TestIdempotencyKeyAcrossInstances(t *testing.T) {
	emu := gcstest.Start(t)
	gcs, err := store.OpenGCS(context.Background(), store.GCSConfig{Bucket: gcstest.Bucket, EmulatorHost: emu.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcs.Close() })
	disk, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })

	for _, be := range []struct {
		name string
		b    store.Backend
	}{{"gcs", gcs}, {"disk", disk}} {
		t.Run(be.name, func(t *testing.T) {
			records := store.New(be.b, store.Config{URLTTL: time.Minute, Retention: time.Hour})
			q := &testQueue{}
			var fleet []*routeEnv
			for range 4 {
				fleet = append(fleet, newRouteEnv(t, func(s *Server) {
					s.Async = &Async{Queue: q, Records: records, BatchMax: 10,
						CheckAddress: func(context.Context, string, int) error { return nil }, WebhookKeys: func(string) [][]byte { return nil }}
				}))
			}
			body := `{"url":"https://example.com/report"}`

			for round := range 5 {
				key := "race-" + newID()
				before := q.count()
				answers := make([]keyed, 12)
				var wg sync.WaitGroup
				for i := range answers {
					wg.Go(func() { answers[i] = postWithKey(t, fleet[i%len(fleet)], key, body) })
				}
				wg.Wait()
				if n := q.count() - before; n != 1 {
					t.Fatalf("round %d: %d submissions queued for one key", round, n)
				}
				var first string
				for i, a := range answers {
					switch a.status {
					case http.StatusAccepted:
						if first == "" {
							first = a.body
						} else if a.body != first {
							t.Errorf("round %d: request %d answered %s, another %s", round, i, a.body, first)
						}
					case http.StatusConflict:
						if !strings.Contains(a.body, `"error_type":"Conflict"`) || a.header.Get("Retry-After") == "" {
							t.Errorf("round %d: request %d: 409 %v %s", round, i, a.header, a.body)
						}
					default:
						t.Errorf("round %d: request %d: %d %s", round, i, a.status, a.body)
					}
				}
				// Whoever was told to wait gets the same answer on a retry.
				if again := postWithKey(t, fleet[round%len(fleet)], key, body); again.status != 202 || (first != "" && again.body != first) ||
					again.header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("round %d: retry: %d %s", round, again.status, again.body)
				}
			}

			// A submission that queued nothing frees its key: a retry on
			// another instance is queued.
			key := "refused-" + newID()
			q.refusing(jobs.ErrFull)
			if a := postWithKey(t, fleet[0], key, body); a.status != 503 {
				t.Fatalf("refused submission: %d %s", a.status, a.body)
			}
			q.refusing(nil)
			before := q.count()
			if a := postWithKey(t, fleet[1], key, body); a.status != 202 || a.header.Get("Idempotent-Replayed") != "" || q.count() != before+1 {
				t.Fatalf("after a refused submission: %d %s, %d queued", a.status, a.body, q.count()-before)
			}
			// So does a request that is not valid.
			key = "invalid-" + newID()
			if a := postWithKey(t, fleet[0], key, `{"url":"ftp://example.com"}`); a.status != 400 {
				t.Fatalf("invalid request: %d %s", a.status, a.body)
			}
			if a := postWithKey(t, fleet[1], key, body); a.status != 202 || q.count() != before+2 {
				t.Fatalf("after an invalid request: %d %s", a.status, a.body)
			}

			// A claim still fresh holds the key (409); one whose instance died
			// long enough ago is taken over.
			for _, c := range []struct {
				age    time.Duration
				status int
			}{{10 * time.Second, 409}, {claimTTL + time.Minute, 202}} {
				key := "claimed-" + newID()
				rec, _ := json.Marshal(idemRecord{BodySHA: sha([]byte(body)), Created: time.Now().UTC().Add(-c.age), Owner: newID()})
				if err := records.CreateRecord(context.Background(), "dev", "idempotency", sha([]byte(key)), rec); err != nil {
					t.Fatal(err)
				}
				before := q.count()
				a := postWithKey(t, fleet[2], key, body)
				if a.status != c.status || (c.status == 202) != (q.count() == before+1) {
					t.Errorf("a claim %v old: %d %s, %d queued", c.age, a.status, a.body, q.count()-before)
				}
			}
		})
	}
}

// The claim's conditional writes are what keep instances apart: a store
// that refuses them is a 503, and nothing is queued.
func TestIdempotencyKeyNeedsItsStore(t *testing.T) {
	disk, err := store.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	q := &testQueue{}
	e := newRouteEnv(t, func(s *Server) {
		s.Async = &Async{Queue: q, Records: failingCreate{store.New(disk, store.Config{URLTTL: time.Minute, Retention: time.Hour})},
			BatchMax: 10, CheckAddress: func(context.Context, string, int) error { return nil }, WebhookKeys: func(string) [][]byte { return nil }}
	})
	a := postWithKey(t, e, "k-"+newID(), `{"url":"https://example.com"}`)
	if a.status != 503 || !strings.Contains(a.body, `"error_type":"Overloaded"`) || q.count() != 0 {
		t.Errorf("%d %s, %d queued", a.status, a.body, q.count())
	}
}

type failingCreate struct{ *store.Store }

func (failingCreate) CreateRecord(context.Context, string, string, string, []byte) error {
	return errors.New("backend down")
}
