package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/app"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
	"github.com/pixashot/pixashot-cloudrun/internal/store/gcstest"
)

// storedLink is the body of a 201 for response_type url and of GET /captures/{id}.
type storedLink struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
	Format    string `json:"format"`
	Bytes     int64  `json:"bytes"`
}

// storageCase is one backend: a service using it, and how to break it.
type storageCase struct {
	name  string
	start func(t *testing.T, mod func(*config.Config)) (e *env, breakIt func())
}

var storageCases = []storageCase{
	{"bucket", func(t *testing.T, mod func(*config.Config)) (*env, func()) {
		emu := gcstest.Start(t)
		_, key := gcstest.SigningKey(t)
		e := own(t, func(c *config.Config) {
			c.Bucket, c.StorageEmulatorHost = gcstest.Bucket, emu.Host
			mod(c)
		}, func(o *app.Options) { o.StorageSignerEmail, o.StorageSignerKey = gcstest.SignerEmail, key })
		return e, emu.Stop
	}},
	{"disk", func(t *testing.T, mod func(*config.Config)) (*env, func()) {
		e := own(t, mod)
		return e, func() {
			// A file where the client's directory would be: every write fails.
			dir := filepath.Join(e.storageDir, "acme")
			os.RemoveAll(dir)
			os.WriteFile(dir, nil, 0o600)
		}
	}},
}

// twoClients serves clients acme and other from the fake Secret Manager.
func twoClients(t *testing.T) (mod func(*config.Config), acme, other string) {
	fake := fakesm.StartT(t)
	acme, other = randomHex(32), randomHex(32)
	fake.Put("proj", "pixashot-client-acme", map[string]string{"pixashot-client": "acme"}, acme, time.Now())
	fake.Put("proj", "pixashot-client-other", map[string]string{"pixashot-client": "other"}, other, time.Now())
	return func(c *config.Config) {
		c.AuthSecretProject, c.SecretEndpoint = "proj", fake.Addr
		c.AuditProject = ""
		c.CaptureTimeout = 8 * time.Second
	}, acme, other
}

// as sends a request with another token than the environment's.
func (e *env) as(t *testing.T, token, method, path string, body any) result {
	t.Helper()
	saved := e.token
	e.token = token
	defer func() { e.token = saved }()
	return e.do(t, method, path, body)
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

func TestStoredCaptures(t *testing.T) {
	for _, sc := range storageCases {
		t.Run(sc.name, func(t *testing.T) {
			mod, acme, other := twoClients(t)
			e, breakIt := sc.start(t, mod)
			page := e.page + "/counted"
			shot := opts{"url": page, "window_width": 64, "window_height": 48}

			r := e.as(t, acme, "POST", "/capture", with(shot, opts{"response_type": "url"}))
			var l storedLink
			if r.status != http.StatusCreated || json.Unmarshal(r.body, &l) != nil {
				t.Fatalf("response_type url: %d %s", r.status, r.body)
			}
			exp, err := time.Parse(time.RFC3339, l.ExpiresAt)
			if !idPattern.MatchString(l.ID) || l.Format != "png" || l.Bytes < 100 || err != nil ||
				time.Until(exp) > 15*time.Minute || time.Until(exp) < 14*time.Minute {
				t.Errorf("link %+v", l)
			}
			download := get(t, l.URL)
			if download.status != 200 || int64(len(download.body)) != l.Bytes || !bytes.HasPrefix(download.body, []byte("\x89PNG")) ||
				download.header.Get("Content-Type") != "image/png" {
				t.Fatalf("download %s: %d %q", l.URL, download.status, download.header)
			}

			t.Run("owner only; existence never leaks", func(t *testing.T) {
				r := e.as(t, acme, "GET", "/captures/"+l.ID, nil)
				var fresh storedLink
				if r.status != 200 || json.Unmarshal(r.body, &fresh) != nil || fresh.ID != l.ID || fresh.Bytes != l.Bytes {
					t.Fatalf("owner: %d %s", r.status, r.body)
				}
				if d := get(t, fresh.URL); d.status != 200 || !bytes.Equal(d.body, download.body) {
					t.Errorf("fresh URL: %d", d.status)
				}
				notFound := func(r result, what string) {
					t.Helper()
					if r.status != 404 || r.errorJSON(t)["error_type"] != "NotFound" || r.errorJSON(t)["message"] != "no such capture" {
						t.Errorf("%s: %d %s", what, r.status, r.body)
					}
				}
				notFound(e.as(t, other, "GET", "/captures/"+l.ID, nil), "another client's id")
				notFound(e.as(t, acme, "GET", "/captures/"+randomHex(12), nil), "no such id")
				notFound(e.as(t, acme, "GET", "/captures/..%2Fother%2F"+l.ID, nil), "a path in the id")
				notFound(e.as(t, other, "DELETE", "/captures/"+l.ID, nil), "another client's delete")
				if r := e.as(t, acme, "GET", "/captures/"+l.ID, nil); r.status != 200 {
					t.Errorf("gone after another client's delete: %d", r.status)
				}
				if r := get(t, e.svc.URL+"/captures/"+l.ID); r.status != 401 {
					t.Errorf("no token: %d", r.status)
				}
			})

			t.Run("cache: identical request, same client, without the browser", func(t *testing.T) {
				cached := with(shot, opts{"cache_ttl": 300, "window_height": 47})
				before := e.hitCount("/counted")
				first := e.as(t, acme, "POST", "/capture", cached)
				if first.status != 200 || first.header.Get("X-Cache") != "miss" || e.hitCount("/counted") != before+1 {
					t.Fatalf("first: %d %q, hits %d", first.status, first.header.Get("X-Cache"), e.hitCount("/counted")-before)
				}
				second := e.as(t, acme, "POST", "/capture", cached)
				if second.status != 200 || second.header.Get("X-Cache") != "hit" || !bytes.Equal(second.body, first.body) {
					t.Errorf("second: %d %q", second.status, second.header.Get("X-Cache"))
				}
				asLink := e.as(t, acme, "POST", "/capture", with(cached, opts{"response_type": "url"}))
				var cl storedLink
				if asLink.status != 201 || asLink.header.Get("X-Cache") != "hit" || json.Unmarshal(asLink.body, &cl) != nil || cl.ID != first.header.Get("X-Capture-Id") {
					t.Errorf("cached as a link: %d %s %q", asLink.status, asLink.body, asLink.header.Get("X-Cache"))
				}
				if n := e.hitCount("/counted"); n != before+1 {
					t.Errorf("cache hits reached the page: %d requests", n-before)
				}
				if r := e.as(t, other, "POST", "/capture", cached); r.header.Get("X-Cache") != "miss" || e.hitCount("/counted") != before+2 {
					t.Errorf("another client was served acme's capture: %q", r.header.Get("X-Cache"))
				}
				if r := e.as(t, acme, "POST", "/capture", with(cached, opts{"dark_mode": true})); r.header.Get("X-Cache") != "miss" {
					t.Errorf("a different request hit: %q", r.header.Get("X-Cache"))
				}
			})

			t.Run("delete", func(t *testing.T) {
				if r := e.as(t, acme, "DELETE", "/captures/"+l.ID, nil); r.status != 204 {
					t.Fatalf("delete: %d %s", r.status, r.body)
				}
				if r := e.as(t, acme, "GET", "/captures/"+l.ID, nil); r.status != 404 {
					t.Errorf("after delete: %d", r.status)
				}
				if r := get(t, l.URL); r.status != 404 {
					t.Errorf("old URL after delete: %d", r.status)
				}
				if r := e.as(t, acme, "DELETE", "/captures/"+l.ID, nil); r.status != 404 {
					t.Errorf("second delete: %d", r.status)
				}
			})

			t.Run("storage down: the client is told", func(t *testing.T) {
				breakIt()
				start := time.Now()
				r := e.as(t, acme, "POST", "/capture", with(shot, opts{"response_type": "url", "window_width": 65}))
				m := r.errorJSON(t)
				if r.status != 503 || m["error_type"] != "Overloaded" || r.header.Get("Retry-After") == "" {
					t.Errorf("%d %s", r.status, r.body)
				}
				if d := time.Since(start); d > 9*time.Second {
					t.Errorf("answered after %v, past the capture deadline", d)
				}
				if !bytes.Contains([]byte(e.logs.String()), []byte(`"event":"storage_retry"`)) {
					t.Error("the upload was not retried")
				}
			})
		})
	}
}

// with is a copy of base with extra options.
func with(base, extra opts) opts {
	out := opts{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func TestSignedURLIsNotABearerForOtherRoutes(t *testing.T) {
	// A capture URL's signature does not cover the path: replayed on another
	// route it must not authenticate.
	e := shared
	r := e.do(t, "POST", "/sign", map[string]any{"params": map[string]any{"url": e.page + "/color"}, "expires_in": 60})
	var minted struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(r.body, &minted) != nil || r.status != 200 {
		t.Fatalf("sign: %d %s", r.status, r.body)
	}
	u, err := url.Parse(minted.URL)
	if err != nil {
		t.Fatal(err)
	}
	replayed := e.svc.URL + "/captures/" + randomHex(12) + "?" + u.RawQuery
	if r := get(t, replayed); r.status != 401 {
		t.Errorf("signed query on /captures: %d %s", r.status, r.body)
	}
}
