package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
)

// Disk keeps objects in a directory (STORAGE_DIR), for running without a
// cloud account. Every access goes through an os.Root, so no name can leave
// the directory even if a check above it failed. Its URLs are served by the
// service itself (Handler) and carry an expiring HMAC.
type Disk struct {
	root *os.Root
	key  []byte
	now  func() time.Time
}

// FilesPath is where the service serves Disk's URLs.
const FilesPath = "/files/"

const keyFile = ".url-key"

// OpenDisk opens (creating) dir. The URL key is kept in the directory, so
// links survive a restart and die with the captures.
func OpenDisk(dir string) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("STORAGE_DIR: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("STORAGE_DIR: %w", err)
	}
	d := &Disk{root: root, now: time.Now}
	if d.key, err = root.ReadFile(keyFile); err != nil || len(d.key) < 32 {
		d.key = make([]byte, 32)
		_, _ = rand.Read(d.key)
		if err := d.writeAtomic(keyFile, d.key); err != nil {
			root.Close()
			return nil, fmt.Errorf("STORAGE_DIR: writing the URL key: %w", err)
		}
	}
	return d, nil
}

// Close releases the directory.
func (d *Disk) Close() error { return d.root.Close() }

type diskMeta struct {
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	Meta        map[string]string `json:"meta"`
}

func metaName(name string) string { return name + ".meta" }

// Write stores the data, then its metadata: the metadata file is what makes
// an object exist, so a write that fails half-way leaves nothing visible.
func (d *Disk) Write(_ context.Context, b Blob, data []byte) error {
	if err := d.root.MkdirAll(path.Dir(b.Name), 0o700); err != nil {
		return err
	}
	if err := d.writeAtomic(b.Name, data); err != nil {
		return err
	}
	m, _ := json.Marshal(diskMeta{ContentType: b.ContentType, Size: int64(len(data)), Meta: b.Meta})
	if err := d.writeAtomic(metaName(b.Name), m); err != nil {
		// Without its metadata the data is invisible and would never be
		// deleted: the client was told "not stored", so nothing stays.
		if rerr := d.root.Remove(b.Name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// writeAtomic writes a temporary file beside name, syncs it, and renames it
// into place.
func (d *Disk) writeAtomic(name string, data []byte) (err error) {
	tmp := name + ".tmp-" + base64.RawURLEncoding.EncodeToString(randomBytes(6))
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			d.root.Remove(tmp) //nolint:errcheck // best effort on a failed write
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return d.root.Rename(tmp, name)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Attrs reads an object's metadata.
func (d *Disk) Attrs(_ context.Context, name string) (Blob, error) {
	raw, err := d.root.ReadFile(metaName(name))
	if err != nil {
		return Blob{}, notFound(err)
	}
	var m diskMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return Blob{}, fmt.Errorf("store: metadata of %s: %w", name, err)
	}
	return Blob{Name: name, ContentType: m.ContentType, Size: m.Size, Meta: m.Meta}, nil
}

// Read returns an object's bytes.
func (d *Disk) Read(ctx context.Context, name string) ([]byte, error) {
	if _, err := d.Attrs(ctx, name); err != nil {
		return nil, err
	}
	data, err := d.root.ReadFile(name)
	return data, notFound(err)
}

// Delete removes the metadata first, so the object stops existing at once.
func (d *Disk) Delete(_ context.Context, name string) error {
	if err := d.root.Remove(metaName(name)); err != nil {
		return notFound(err)
	}
	if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// URL is a path on this service; the server makes it absolute.
func (d *Disk) URL(_ context.Context, b Blob, expires time.Time) (string, error) {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"expires": {exp}, "signature": {d.sign(b.Name, exp)}}
	return FilesPath + b.Name + "?" + q.Encode(), nil
}

func (d *Disk) sign(name, expires string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(name + "\n" + expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Handler serves GET /files/{client}/{id} for a valid, unexpired signature.
// Only capture names can be served: never a cache pointer, metadata or key.
func (d *Disk) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, err := objectName(r.PathValue("client"), r.PathValue("id"))
		if err != nil {
			apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such capture"))
			return
		}
		q := r.URL.Query()
		exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
		if err != nil || !hmac.Equal([]byte(q.Get("signature")), []byte(d.sign(name, q.Get("expires")))) {
			apierror.Write(w, apierror.New(http.StatusForbidden, apierror.InvalidSignature, "the signature is not valid"))
			return
		}
		if d.now().Unix() > exp {
			apierror.Write(w, apierror.New(http.StatusForbidden, apierror.SignatureExpired, "the link has expired"))
			return
		}
		b, err := d.Attrs(r.Context(), name)
		var data []byte
		if err == nil {
			data, err = d.root.ReadFile(name) // Attrs has checked it exists
		}
		if err != nil {
			apierror.Write(w, apierror.New(http.StatusNotFound, apierror.NotFound, "no such capture"))
			return
		}
		w.Header().Set("Content-Type", b.ContentType)
		w.Header().Set("Content-Disposition", "attachment; filename="+downloadName(b))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data) //nolint:errcheck // the client may be gone
	})
}

// downloadName is the file name a download is saved as.
func downloadName(b Blob) string {
	f := b.Meta[metaFormat]
	if f == "" {
		f = "bin"
	}
	return "screenshot." + f
}
