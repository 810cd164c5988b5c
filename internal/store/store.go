// Package store keeps captures for clients that asked for a link
// (response_type url) and for the capture cache: under the client's own
// prefix, with retention enforced, on Cloud Storage or on local disk.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
)

// ErrNotFound is an object that does not exist, belongs to another client,
// or is past retention: the caller cannot tell which, by design.
var ErrNotFound = errors.New("store: not found")

// ErrExists is a Create whose name is taken: another writer went first.
// ErrChanged is a Swap whose object no longer holds what the caller read.
var (
	ErrExists  = errors.New("store: already exists")
	ErrChanged = errors.New("store: changed since it was read")
)

// Blob is one object of a backend.
type Blob struct {
	Name        string
	ContentType string
	Size        int64
	Meta        map[string]string
}

// Backend is the blob store underneath: Cloud Storage or a directory.
// Write must be atomic: a failed write leaves nothing visible.
type Backend interface {
	Write(ctx context.Context, b Blob, data []byte) error
	// Create writes only where nothing has the name (ErrExists otherwise):
	// how instances that share a bucket agree on which of them goes first.
	Create(ctx context.Context, b Blob, data []byte) error
	// Swap replaces an object only while it still holds old (ErrChanged
	// otherwise, or when it is gone).
	Swap(ctx context.Context, b Blob, old, data []byte) error
	Attrs(ctx context.Context, name string) (Blob, error) // ErrNotFound
	Read(ctx context.Context, name string) ([]byte, error)
	Delete(ctx context.Context, name string) error // ErrNotFound
	// URL is a download link valid until expires, which the holder can use
	// without credentials. It may be relative to the service (disk).
	URL(ctx context.Context, b Blob, expires time.Time) (string, error)
}

// Object is one stored capture.
type Object struct {
	ID          string
	Client      string
	Format      string
	ContentType string
	Size        int64
	Created     time.Time
	request     string // the fingerprint it was stored under
}

// Link is what a client gets for a stored capture.
type Link struct {
	Object
	URL     string
	Expires time.Time
}

// Absolute is a link's URL as a client can use it: the local store gives
// paths on this service, made absolute with base (the scheme and host the
// client called); Cloud Storage's signed URLs are absolute already.
func Absolute(u, base string) string {
	if strings.HasPrefix(u, "/") {
		return base + u
	}
	return u
}

// Config sets the policy.
type Config struct {
	URLTTL    time.Duration // SIGNED_URL_TTL
	Retention time.Duration // STORAGE_RETENTION: no URL for older objects
	OpTimeout time.Duration // bound on one backend call; default 15s
	Logger    *slog.Logger
}

// Store applies the policy over a backend.
type Store struct {
	b   Backend
	cfg Config
	now func() time.Time
}

// New makes a store on b.
func New(b Backend, cfg Config) *Store {
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Store{b: b, cfg: cfg, now: time.Now}
}

// Ids are what the service generates (newID in server); clients are label
// values or "dev". Nothing else can form a name, so no id or client can
// reach outside its prefix.
var (
	idPattern   = regexp.MustCompile(`^[0-9a-f]{24}$`)
	hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Metadata keys. The request is kept only as a hash: custom headers and
// scripts can hold a client's secrets.
const (
	metaClient  = "client"
	metaFormat  = "format"
	metaCreated = "created"
	metaRequest = "request-sha256"
	metaID      = "capture-id" // on a cache pointer: the capture it names
)

func objectName(client, id string) (string, error) {
	if !auth.ValidClientID(client) {
		return "", fmt.Errorf("store: client %q cannot name a prefix", client)
	}
	if !idPattern.MatchString(id) {
		return "", ErrNotFound
	}
	return client + "/" + id, nil
}

// cacheName is the pointer from a request's fingerprint to its capture.
func cacheName(client, fingerprint string) (string, error) {
	if !auth.ValidClientID(client) || !hashPattern.MatchString(fingerprint) {
		return "", fmt.Errorf("store: bad cache key")
	}
	return client + "/cache/" + fingerprint, nil
}

// Save stores a capture under the client's prefix, retrying with backoff
// until ctx ends. With a fingerprint it also becomes the cache entry for it.
func (s *Store) Save(ctx context.Context, o Object, fingerprint string, data []byte) (Link, error) {
	name, err := objectName(o.Client, o.ID)
	if err != nil {
		return Link{}, err
	}
	o.Created, o.Size = s.now().UTC().Truncate(time.Second), int64(len(data))
	meta := map[string]string{metaClient: o.Client, metaFormat: o.Format,
		metaCreated: o.Created.Format(time.RFC3339), metaRequest: fingerprint}
	blob := Blob{Name: name, ContentType: o.ContentType, Size: o.Size, Meta: meta}
	if err := s.retry(ctx, "write", func(ctx context.Context) error { return s.b.Write(ctx, blob, data) }); err != nil {
		return Link{}, err
	}
	if fingerprint != "" {
		// The capture is stored; a lost pointer only costs a cache miss.
		if cn, err := cacheName(o.Client, fingerprint); err == nil {
			ptr := Blob{Name: cn, ContentType: "text/plain", Meta: map[string]string{metaID: o.ID, metaCreated: meta[metaCreated]}}
			if err := s.retry(ctx, "write cache pointer", func(ctx context.Context) error { return s.b.Write(ctx, ptr, []byte(o.ID)) }); err != nil {
				s.cfg.Logger.Warn("cache pointer not written", "event", "storage_error", "error", err)
			}
		}
	}
	link, err := s.Link(ctx, o)
	if err != nil {
		// No link means no client will ever know the id: never leave the
		// object behind.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.OpTimeout)
		defer cancel()
		if derr := s.b.Delete(dctx, name); derr != nil && !errors.Is(derr, ErrNotFound) {
			s.cfg.Logger.Error("a capture with no link could not be deleted", "event", "storage_orphan", "object", name, "error", derr)
		}
		return Link{}, err
	}
	return link, nil
}

// Get is the owner's fresh link to a capture.
func (s *Store) Get(ctx context.Context, client, id string) (Link, error) {
	o, err := s.stat(ctx, client, id)
	if err != nil {
		return Link{}, err
	}
	return s.Link(ctx, o)
}

// Load returns the bytes of the owner's capture id (ErrNotFound if it is
// not the owner's, or past retention).
func (s *Store) Load(ctx context.Context, client, id string) ([]byte, error) {
	o, err := s.stat(ctx, client, id)
	if err != nil {
		return nil, err
	}
	return s.Data(ctx, o)
}

// Data returns the bytes of a capture that Cached found.
func (s *Store) Data(ctx context.Context, o Object) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	return s.b.Read(ctx, blobOf(o).Name)
}

// Delete removes the owner's capture. Its cache pointer, if any, dangles
// and is ignored: a lookup checks the capture itself.
func (s *Store) Delete(ctx context.Context, client, id string) error {
	name, err := objectName(client, id)
	if err != nil {
		return ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	return s.b.Delete(ctx, name)
}

// Cached finds the client's capture of the same request made within maxAge.
// ok is false on a miss; err is set only when the backend failed.
func (s *Store) Cached(ctx context.Context, client, fingerprint string, maxAge time.Duration) (Object, bool, error) {
	cn, err := cacheName(client, fingerprint)
	if err != nil {
		return Object{}, false, err
	}
	octx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	ptr, err := s.b.Attrs(octx, cn)
	cancel()
	if errors.Is(err, ErrNotFound) {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, err
	}
	o, err := s.stat(ctx, client, ptr.Meta[metaID])
	switch {
	case errors.Is(err, ErrNotFound):
		return Object{}, false, nil
	case err != nil:
		return Object{}, false, err
	case o.request != fingerprint || s.now().Sub(o.Created) > maxAge:
		return Object{}, false, nil
	}
	return o, true, nil
}

// stat reads a capture's attributes and applies ownership and retention.
func (s *Store) stat(ctx context.Context, client, id string) (Object, error) {
	name, err := objectName(client, id)
	if err != nil {
		return Object{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	b, err := s.b.Attrs(ctx, name)
	if err != nil {
		return Object{}, err
	}
	created, err := time.Parse(time.RFC3339, b.Meta[metaCreated])
	if err != nil || b.Meta[metaClient] != client {
		return Object{}, ErrNotFound
	}
	if s.cfg.Retention > 0 && s.now().Sub(created) > s.cfg.Retention {
		return Object{}, ErrNotFound // the lifecycle rule deletes it soon
	}
	return Object{ID: id, Client: client, Format: b.Meta[metaFormat], ContentType: b.ContentType,
		Size: b.Size, Created: created, request: b.Meta[metaRequest]}, nil
}

// blobOf is what a backend needs of an object to read it or link to it.
func blobOf(o Object) Blob {
	name, _ := objectName(o.Client, o.ID) // o came from Save or stat: valid
	return Blob{Name: name, ContentType: o.ContentType, Size: o.Size, Meta: map[string]string{metaFormat: o.Format}}
}

// Link signs a download URL for o that ends at SIGNED_URL_TTL or at the end
// of retention, whichever comes first.
func (s *Store) Link(ctx context.Context, o Object) (Link, error) {
	exp := s.now().Add(s.cfg.URLTTL)
	if s.cfg.Retention > 0 {
		if end := o.Created.Add(s.cfg.Retention); end.Before(exp) {
			exp = end
		}
	}
	exp = exp.Truncate(time.Second)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	u, err := s.b.URL(ctx, blobOf(o), exp)
	if err != nil {
		return Link{}, fmt.Errorf("store: signing a URL: %w", err)
	}
	return Link{Object: o, URL: u, Expires: exp}, nil
}

// retry runs op with exponential backoff until it succeeds, ctx ends, or
// five attempts failed. Each attempt has its own bound.
func (s *Store) retry(ctx context.Context, what string, op func(context.Context) error) error {
	wait := 100 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		err = op(actx)
		cancel()
		if err == nil || attempt == 5 || errors.Is(err, ErrExists) || errors.Is(err, ErrChanged) {
			break
		}
		s.cfg.Logger.Warn("storage "+what+" failed; retrying", "event", "storage_retry", "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: %s: %w (then %w)", what, err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// Fingerprint is the cache key of a request: a SHA-256 over the client and
// its normalized options.
func Fingerprint(client string, normalized []byte) string {
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(client)) + ":" + client + "\n"))
	h.Write(normalized)
	return hex.EncodeToString(h.Sum(nil))
}
