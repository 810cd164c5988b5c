package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sync"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/signing"
)

// Disk keeps objects in a directory (STORAGE_DIR), for running without a
// cloud account. Every access goes through an os.Root, so no name can leave
// the directory even if a check above it failed. Its URLs are served by the
// service itself (OpenLink) and signed like capture URLs (internal/signing,
// version 2) with a key of the directory's own.
type Disk struct {
	root  *os.Root
	links *signing.Signer
	swap  sync.Mutex // one process owns a STORAGE_DIR, as its queue does
}

// linkParam is the signed parameter that names the object; it travels in
// the path, not the query.
const linkParam = "object"

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
	d := &Disk{root: root}
	key, err := root.ReadFile(keyFile)
	if err != nil || len(key) < 32 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		if err := d.writeAtomic(keyFile, key); err != nil {
			root.Close()
			return nil, fmt.Errorf("STORAGE_DIR: writing the URL key: %w", err)
		}
	}
	// Links live as long as SIGNED_URL_TTL allows (168h at most).
	d.links = signing.New(key).WithMaxAhead(7*24*time.Hour + time.Minute)
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

// Create claims the name through its metadata file, the one that makes an
// object exist: a hard link fails when its name is taken, where a rename
// would replace. The data is written aside first and moved in after the
// claim, so a loser never touches the winner's bytes. Until it is moved in,
// a reader finds nothing, as before the claim.
func (d *Disk) Create(_ context.Context, b Blob, data []byte) error {
	if err := d.root.MkdirAll(path.Dir(b.Name), 0o700); err != nil {
		return err
	}
	if _, err := d.root.Stat(metaName(b.Name)); err == nil {
		return ErrExists
	}
	aside := b.Name + ".new-" + base64.RawURLEncoding.EncodeToString(randomBytes(6))
	if err := d.writeAtomic(aside, data); err != nil {
		return err
	}
	defer d.root.Remove(aside) //nolint:errcheck // gone once moved in; removed if not
	m, _ := json.Marshal(diskMeta{ContentType: b.ContentType, Size: int64(len(data)), Meta: b.Meta})
	if err := d.writeAtomic(aside+".meta", m); err != nil {
		return err
	}
	defer d.root.Remove(aside + ".meta") //nolint:errcheck // the claim is a second link to it
	if err := d.root.Link(aside+".meta", metaName(b.Name)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return err
	}
	if err := d.root.Rename(aside, b.Name); err != nil {
		d.root.Remove(metaName(b.Name)) //nolint:errcheck // give the claim back
		return err
	}
	return nil
}

// Swap compares and replaces under the directory's lock.
func (d *Disk) Swap(ctx context.Context, b Blob, old, data []byte) error {
	d.swap.Lock()
	defer d.swap.Unlock()
	cur, err := d.Read(ctx, b.Name)
	if errors.Is(err, ErrNotFound) || (err == nil && !bytes.Equal(cur, old)) {
		return ErrChanged
	}
	if err != nil {
		return err
	}
	return d.Write(ctx, b, data)
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
	q, err := d.links.Query(map[string]string{linkParam: b.Name}, expires)
	if err != nil {
		return "", err
	}
	q.Del(linkParam)
	return FilesPath + b.Name + "?" + q.Encode(), nil
}

// OpenLink returns the object a link names, if its signature holds:
// signing.ErrInvalid, signing.ErrExpired or ErrNotFound otherwise. Only
// capture names can be opened: never a cache pointer, metadata or the key.
func (d *Disk) OpenLink(ctx context.Context, client, id string, q url.Values) (Blob, []byte, error) {
	name, err := objectName(client, id)
	if err != nil {
		return Blob{}, nil, ErrNotFound
	}
	signed := url.Values{}
	for k, v := range q {
		signed[k] = v
	}
	if signed.Has(linkParam) {
		return Blob{}, nil, signing.ErrInvalid
	}
	signed.Set(linkParam, name)
	if err := d.links.Verify(signed); err != nil {
		return Blob{}, nil, err
	}
	b, err := d.Attrs(ctx, name)
	if err != nil {
		return Blob{}, nil, err
	}
	data, err := d.root.ReadFile(name) // Attrs has checked it exists
	return b, data, notFound(err)
}

// DownloadName is the file name a download is saved as.
func DownloadName(b Blob) string {
	f := b.Meta[metaFormat]
	if f == "" {
		f = "bin"
	}
	return "screenshot." + f
}
