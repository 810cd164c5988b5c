package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/signing"
	"github.com/pixashot/pixashot-cloudrun/internal/store/gcstest"
)

// backend is one backend under the shared table, with how to fetch its URLs.
type backend struct {
	name  string
	b     Backend
	fetch func(t *testing.T, u string) *http.Response
	stop  func() // makes every later write fail
	dir   string // the disk backend's directory
}

func backends(t *testing.T) []backend {
	t.Helper()
	emu := gcstest.Start(t)
	_, keyPEM := gcstest.SigningKey(t)
	g, err := OpenGCS(context.Background(), GCSConfig{Bucket: gcstest.Bucket, EmulatorHost: emu.Host,
		SignerEmail: gcstest.SignerEmail, SignerKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })

	dir := t.TempDir()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	files := linkServer(d)
	t.Cleanup(files.Close)

	return []backend{
		{name: "gcs", b: g, fetch: get, stop: emu.Stop},
		{name: "disk", b: d, dir: dir, fetch: func(t *testing.T, u string) *http.Response { return get(t, files.URL+u) },
			// A file where the client's directory should be: every write fails.
			stop: func() { os.RemoveAll(filepath.Join(dir, "acme")); os.WriteFile(filepath.Join(dir, "acme"), nil, 0o600) }},
	}
}

func get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestStore(b Backend, now *time.Time) *Store {
	s := New(b, Config{URLTTL: 15 * time.Minute, Retention: 7 * 24 * time.Hour, OpTimeout: 3 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	s.now = func() time.Time { return *now }
	return s
}

func id(t *testing.T) string {
	t.Helper()
	return hex.EncodeToString(randomBytes(12))
}

var png = []byte("\x89PNG\r\n\x1a\nnot really an image")

func TestStoreTable(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			now := time.Now()
			s := newTestStore(be.b, &now)
			ctx := context.Background()
			fp := Fingerprint("acme", []byte(`{"url":"https://a.example"}`))
			o := Object{ID: id(t), Client: "acme", Format: "png", ContentType: "image/png"}

			link, err := s.Save(ctx, o, fp, png)
			if err != nil {
				t.Fatalf("save: %v", err)
			}
			if link.Size != int64(len(png)) || link.Format != "png" || link.ID != o.ID {
				t.Errorf("link = %+v", link)
			}
			if d := link.Expires.Sub(now); d < 14*time.Minute || d > 15*time.Minute {
				t.Errorf("expires in %v, want SIGNED_URL_TTL", d)
			}
			t.Run("the URL downloads the capture", func(t *testing.T) {
				resp := be.fetch(t, link.URL)
				got := body(t, resp)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(got, png) {
					t.Fatalf("GET %s: %d %q", link.URL, resp.StatusCode, got)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
					t.Errorf("Content-Type %q", ct)
				}
			})
			t.Run("metadata has the client, format, time and a hash, nothing else", func(t *testing.T) {
				b, err := be.b.Attrs(ctx, "acme/"+o.ID)
				if err != nil {
					t.Fatal(err)
				}
				keys := make([]string, 0, len(b.Meta))
				for k := range b.Meta {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				if strings.Join(keys, ",") != "client,created,format,request-sha256" || b.Meta[metaRequest] != fp || b.ContentType != "image/png" {
					t.Errorf("attrs = %+v", b)
				}
			})
			t.Run("the owner gets a fresh URL; anyone else, 404", func(t *testing.T) {
				now = now.Add(time.Minute)
				l2, err := s.Get(ctx, "acme", o.ID)
				if err != nil || l2.URL == link.URL || !l2.Expires.After(link.Expires) {
					t.Errorf("owner: %+v, %v", l2, err)
				}
				for _, c := range [][2]string{{"other", o.ID}, {"acme", id(t)}, {"acme", "../other/" + o.ID}, {"acme", "cache/" + fp}, {"acme", o.ID + ".meta"}, {"../acme", o.ID}} {
					if _, err := s.Get(ctx, c[0], c[1]); !errors.Is(err, ErrNotFound) {
						t.Errorf("Get(%q, %q) = %v, want not found", c[0], c[1], err)
					}
				}
			})
			t.Run("cache: same client and request within the TTL only", func(t *testing.T) {
				if got, ok, err := s.Cached(ctx, "acme", fp, time.Hour); err != nil || !ok || got.ID != o.ID {
					t.Errorf("hit: %+v %v %v", got, ok, err)
				}
				if _, ok, _ := s.Cached(ctx, "acme", fp, 30*time.Second); ok {
					t.Error("hit older than the cache TTL")
				}
				if _, ok, _ := s.Cached(ctx, "other", fp, time.Hour); ok {
					t.Error("another client's capture served from cache")
				}
				if _, ok, _ := s.Cached(ctx, "acme", Fingerprint("acme", []byte("{}")), time.Hour); ok {
					t.Error("hit for another request")
				}
			})
			t.Run("no URL past retention", func(t *testing.T) {
				saved := now
				now = now.Add(7*24*time.Hour + time.Minute)
				if _, err := s.Get(ctx, "acme", o.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("past retention: %v", err)
				}
				now = link.Created.Add(7*24*time.Hour - 5*time.Minute) // the URL ends with retention
				l, err := s.Get(ctx, "acme", o.ID)
				if err != nil || !l.Expires.Equal(l.Created.Add(7*24*time.Hour)) {
					t.Errorf("near the end: %+v %v", l, err)
				}
				now = saved
			})
			t.Run("delete: another client cannot, the owner can", func(t *testing.T) {
				if err := s.Delete(ctx, "other", o.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("other client's delete: %v", err)
				}
				if _, err := s.Get(ctx, "acme", o.ID); err != nil {
					t.Fatalf("gone after another client's delete: %v", err)
				}
				if err := s.Delete(ctx, "acme", o.ID); err != nil {
					t.Fatalf("delete: %v", err)
				}
				if _, err := s.Get(ctx, "acme", o.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("after delete: %v", err)
				}
				if err := s.Delete(ctx, "acme", o.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("second delete: %v", err)
				}
				if _, ok, _ := s.Cached(ctx, "acme", fp, time.Hour); ok {
					t.Error("deleted capture served from cache")
				}
			})
			t.Run("a failing backend is an error within the deadline, and leaves nothing", func(t *testing.T) {
				be.stop()
				ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
				defer cancel()
				o := Object{ID: id(t), Client: "acme", Format: "png", ContentType: "image/png"}
				start := time.Now()
				if _, err := s.Save(ctx, o, "", png); err == nil {
					t.Fatal("save succeeded on a stopped backend")
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("took %v", d)
				}
				if _, err := be.b.Attrs(context.Background(), "acme/"+o.ID); err == nil {
					t.Error("a failed write is visible")
				}
			})
		})
	}
}

// linkServer serves a Disk's links the way the service does (its status
// mapping is the server's; here only found or not).
func linkServer(d *Disk) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+FilesPath+"{client}/{id}", func(w http.ResponseWriter, r *http.Request) {
		b, data, err := d.OpenLink(r.Context(), r.PathValue("client"), r.PathValue("id"), r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", b.ContentType)
		w.Write(data)
	})
	return httptest.NewServer(mux)
}

func TestDiskLinks(t *testing.T) {
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Now()
	s := newTestStore(d, &now)
	o := Object{ID: id(t), Client: "acme", Format: "pdf", ContentType: "application/pdf"}
	link, err := s.Save(context.Background(), o, "", []byte("%PDF-1.7"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(u string) ([]byte, error) {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimPrefix(p.Path, FilesPath), "/")
		if len(parts) != 2 {
			return nil, ErrNotFound
		}
		b, data, err := d.OpenLink(context.Background(), parts[0], parts[1], p.Query())
		if err == nil && (b.ContentType != "application/pdf" || DownloadName(b) != "screenshot.pdf") {
			t.Errorf("blob %+v", b)
		}
		return data, err
	}
	if data, err := open(link.URL); err != nil || string(data) != "%PDF-1.7" {
		t.Fatalf("the link: %q %v", data, err)
	}
	u, _ := url.Parse(link.URL)
	q := u.Query()
	q.Set("expires", strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	u.RawQuery = q.Encode()
	for name, c := range map[string]struct {
		u    string
		want error
	}{
		"expiry extended":       {u.String(), signing.ErrInvalid},
		"another client's path": {strings.Replace(link.URL, "/acme/", "/other/", 1), signing.ErrInvalid},
		"a path for an id":      {strings.Replace(link.URL, o.ID, "..", 1), ErrNotFound},
		"the name smuggled in":  {link.URL + "&object=acme/" + o.ID, signing.ErrInvalid},
	} {
		if _, err := open(c.u); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	// A link made 20 minutes ago (the TTL is 15) has expired.
	then := now.Add(-20 * time.Minute)
	old := newTestStore(d, &then)
	stale, err := old.Save(context.Background(), Object{ID: id(t), Client: "acme", Format: "png", ContentType: "image/png"}, "", []byte("png"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(stale.URL); !errors.Is(err, signing.ErrExpired) {
		t.Errorf("an expired link: %v", err)
	}
	// The key survives a restart, so do the links.
	d2, err := OpenDisk(d.root.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	p, _ := url.Parse(link.URL)
	if _, _, err := d2.OpenLink(context.Background(), "acme", o.ID, p.Query()); err != nil {
		t.Errorf("after reopening the directory: %v", err)
	}
}

// TestGCSSignedURLIsV4 checks the V4 fields, the expiry, and the signature
// itself against the public half of the generated key.
func TestGCSSignedURLIsV4(t *testing.T) {
	key, keyPEM := gcstest.SigningKey(t)
	g, err := OpenGCS(context.Background(), GCSConfig{Bucket: gcstest.Bucket, SignerEmail: gcstest.SignerEmail, SignerKey: keyPEM,
		EmulatorHost: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	exp := time.Now().Add(15 * time.Minute).Truncate(time.Second)
	raw, err := g.URL(context.Background(), Blob{Name: "acme/" + id(t), Meta: map[string]string{metaFormat: "png"}}, exp)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	date, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil {
		t.Fatalf("X-Goog-Date %q", q.Get("X-Goog-Date"))
	}
	secs, _ := strconv.Atoi(q.Get("X-Goog-Expires"))
	if got := date.Add(time.Duration(secs) * time.Second); got.Sub(exp).Abs() > 2*time.Second {
		t.Errorf("expires at %v, want %v", got, exp)
	}
	scope := date.Format("20060102") + "/auto/storage/goog4_request"
	for k, want := range map[string]string{
		"X-Goog-Algorithm":             "GOOG4-RSA-SHA256",
		"X-Goog-Credential":            gcstest.SignerEmail + "/" + scope,
		"X-Goog-SignedHeaders":         "host",
		"response-content-disposition": "attachment; filename=screenshot.png",
	} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		t.Fatalf("signature %q", q.Get("X-Goog-Signature"))
	}
	// The canonical request, from the V4 documentation.
	q.Del("X-Goog-Signature")
	canonical := strings.Join([]string{"GET", u.EscapedPath(), strings.ReplaceAll(q.Encode(), "+", "%20"),
		"host:" + u.Hostname() + "\n", "host", "UNSIGNED-PAYLOAD"}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"GOOG4-RSA-SHA256", q.Get("X-Goog-Date"), scope, hex.EncodeToString(sum[:])}, "\n")
	digest := sha256.Sum256([]byte(toSign))
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("the signature does not verify with the key's public half: %v", err)
	}
}

// A write whose metadata cannot be written leaves no data file behind: the
// client is told "not stored", and an invisible file would never be deleted.
func TestDiskFailedMetadataLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A directory where the metadata file goes: its rename fails.
	if err := os.MkdirAll(filepath.Join(dir, "acme", "abc.meta", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(context.Background(), Blob{Name: "acme/abc", ContentType: "image/png"}, []byte("png")); err == nil {
		t.Fatal("the write succeeded without its metadata")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "acme"))
	for _, e := range entries {
		if e.Name() != "abc.meta" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// noURL is a backend whose links cannot be made (IAM signBlob out of reach).
type noURL struct{ Backend }

func (noURL) URL(context.Context, Blob, time.Time) (string, error) {
	return "", errors.New("signBlob unreachable")
}

// A capture whose link cannot be made is deleted again: nobody would ever
// know its id.
func TestSaveWithoutALinkLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := New(noURL{d}, Config{URLTTL: time.Minute, Retention: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	o := Object{ID: "0123456789abcdef01234567", Client: "acme", Format: "png", ContentType: "image/png"}
	if _, err := s.Save(context.Background(), o, "", []byte("png")); err == nil {
		t.Fatal("saved without a link")
	}
	if _, err := d.Attrs(context.Background(), "acme/"+o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the capture with no link is still stored: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", o.ID)); !os.IsNotExist(err) {
		t.Fatalf("its data file is left: %v", err)
	}
}

// race runs 12 writers at once and returns the one that won; every other
// must have been told lost.
func race(t *testing.T, lost error, write func(i int) error) int {
	t.Helper()
	errs := make([]error, 12)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = write(i) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, lost):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	return winner
}

// Instances that share a bucket race to create the same record, then to
// replace it: exactly one wins each race, every other is told so, and what
// stays is the winner's.
func TestConditionalRecordsHaveOneWinner(t *testing.T) {
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			now := time.Now()
			s := newTestStore(be.b, &now)
			ctx := context.Background()
			for round := range 4 {
				key := hex.EncodeToString(randomBytes(32))
				record := func(i int) []byte { return []byte(`{"writer":` + strconv.Itoa(i) + `}`) }
				// The one winner's record is what stays.
				check := func(what string, winner int) {
					t.Helper()
					if got, err := s.GetRecord(ctx, "acme", "idempotency", key); err != nil || !bytes.Equal(got, record(winner)) {
						t.Fatalf("round %d: after the %s the record is %q, %v; writer %d won", round, what, got, err, winner)
					}
				}
				check("creates", race(t, ErrExists, func(i int) error {
					return s.CreateRecord(ctx, "acme", "idempotency", key, record(i))
				}))
				// The same race to replace what all of them read.
				old, _ := s.GetRecord(ctx, "acme", "idempotency", key)
				check("swaps", race(t, ErrChanged, func(i int) error {
					return s.SwapRecord(ctx, "acme", "idempotency", key, old, record(100+i))
				})+100)
				if err := s.SwapRecord(ctx, "acme", "idempotency", hex.EncodeToString(randomBytes(32)), old, []byte(`{}`)); !errors.Is(err, ErrChanged) {
					t.Fatalf("swap of a record that is not there: %v", err)
				}
				// A record that is replaced or deleted behaves as before.
				if err := s.PutRecord(ctx, "acme", "idempotency", key, []byte(`{"done":true}`)); err != nil {
					t.Fatal(err)
				}
				if err := s.CreateRecord(ctx, "acme", "idempotency", key, []byte(`{}`)); !errors.Is(err, ErrExists) {
					t.Fatalf("create over a replaced record: %v", err)
				}
				if err := s.DeleteRecord(ctx, "acme", "idempotency", key); err != nil {
					t.Fatal(err)
				}
				if err := s.CreateRecord(ctx, "acme", "idempotency", key, []byte(`{"again":true}`)); err != nil {
					t.Fatalf("create after delete: %v", err)
				}
			}
			if be.dir != "" {
				// Nothing of the losers stays beside the records.
				left, _ := filepath.Glob(filepath.Join(be.dir, "acme", "idempotency", "*.*"))
				var aside []string
				for _, f := range left {
					if !strings.HasSuffix(f, ".meta") {
						aside = append(aside, filepath.Base(f))
					}
				}
				if len(aside) > 0 {
					t.Errorf("left beside the records: %v", aside)
				}
			}
		})
	}
}
