package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/compute/metadata"
	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iamcredentials/v1"
	"google.golang.org/api/option"
)

// GCSConfig says which bucket and how URLs are signed.
type GCSConfig struct {
	Bucket string
	// EmulatorHost is STORAGE_EMULATOR_HOST (host:port or a URL): the real
	// client, without credentials, against a stand-in such as fake-gcs-server.
	EmulatorHost string
	// SignerEmail and SignerKey (PEM) sign URLs with a key. Unset, URLs are
	// signed by the instance's service account through IAM signBlob, so no
	// key file exists anywhere.
	SignerEmail string
	SignerKey   []byte
}

// GCS is a Cloud Storage bucket.
type GCS struct {
	client *storage.Client
	bucket *storage.BucketHandle
	cfg    GCSConfig

	mu    sync.Mutex // guards iam and email, found on first use
	iam   *iamcredentials.Service
	email string
}

// OpenGCS makes the client. It does not touch the network.
func OpenGCS(ctx context.Context, cfg GCSConfig) (*GCS, error) {
	var opts []option.ClientOption
	if h := cfg.EmulatorHost; h != "" {
		if !strings.Contains(h, "://") {
			h = "http://" + h
		}
		opts = append(opts, option.WithoutAuthentication(), option.WithEndpoint(strings.TrimSuffix(h, "/")+"/storage/v1/"))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("BUCKET: %w", err)
	}
	// The store retries writes itself, within the capture's deadline; the
	// client's own retries stay short so a dead backend fails fast.
	c.SetRetry(storage.WithMaxAttempts(3), storage.WithBackoff(gaxBackoff()))
	return &GCS{client: c, bucket: c.Bucket(cfg.Bucket), cfg: cfg}, nil
}

// Close closes the client.
func (g *GCS) Close() error { return g.client.Close() }

// Write uploads in one request; an upload that fails is not committed, so
// nothing half-written is ever visible.
func (g *GCS) Write(ctx context.Context, b Blob, data []byte) error {
	return upload(ctx, g.bucket.Object(b.Name), b, data)
}

// Create uploads only where no object has the name: the bucket itself
// decides (ifGenerationMatch=0), so two instances cannot both win.
func (g *GCS) Create(ctx context.Context, b Blob, data []byte) error {
	return lostTo(ErrExists, upload(ctx, g.bucket.Object(b.Name).If(storage.Conditions{DoesNotExist: true}), b, data))
}

// lostTo names a write whose precondition failed (412) by the store's own
// error for it.
func lostTo(lost, err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed {
		return lost
	}
	return err
}

// Swap reads the object with its generation and writes only over that
// generation, so a writer in between makes it fail (ifGenerationMatch).
func (g *GCS) Swap(ctx context.Context, b Blob, old, data []byte) error {
	obj := g.bucket.Object(b.Name)
	r, err := obj.NewReader(ctx)
	if err != nil {
		if errors.Is(gcsNotFound(err), ErrNotFound) {
			return ErrChanged
		}
		return err
	}
	var cur bytes.Buffer
	_, err = cur.ReadFrom(io.LimitReader(r, int64(len(old))+1))
	r.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(cur.Bytes(), old) {
		return ErrChanged
	}
	return lostTo(ErrChanged, upload(ctx, obj.If(storage.Conditions{GenerationMatch: r.Attrs.Generation}), b, data))
}

func upload(ctx context.Context, obj *storage.ObjectHandle, b Blob, data []byte) error {
	// Cancelling the writer's context is how an upload is abandoned.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(wctx)
	w.ContentType = b.ContentType
	w.Metadata = b.Meta
	w.ChunkSize = 0 // single request: captures are small, and there is no resumable session to leak
	w.SendCRC32C = true
	w.CRC32C = crc32c(data)
	if _, err := w.Write(data); err != nil {
		cancel()
		_ = w.Close() // reports the cancellation; err is the cause
		return err
	}
	return w.Close()
}

// Attrs reads an object's attributes.
func (g *GCS) Attrs(ctx context.Context, name string) (Blob, error) {
	a, err := g.bucket.Object(name).Attrs(ctx)
	if err != nil {
		return Blob{}, gcsNotFound(err)
	}
	return Blob{Name: name, ContentType: a.ContentType, Size: a.Size, Meta: a.Metadata}, nil
}

// Read downloads an object.
func (g *GCS) Read(ctx context.Context, name string) ([]byte, error) {
	r, err := g.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return nil, gcsNotFound(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(r)
	return buf.Bytes(), err
}

// Delete deletes an object.
func (g *GCS) Delete(ctx context.Context, name string) error {
	return gcsNotFound(g.bucket.Object(name).Delete(ctx))
}

func gcsNotFound(err error) error {
	var ge *googleapi.Error
	if errors.Is(err, storage.ErrObjectNotExist) || (errors.As(err, &ge) && ge.Code == http.StatusNotFound) {
		return ErrNotFound
	}
	return err
}

// URL is a V4 signed GET URL that names the download's file.
func (g *GCS) URL(ctx context.Context, b Blob, expires time.Time) (string, error) {
	opts := &storage.SignedURLOptions{
		Scheme:  storage.SigningSchemeV4,
		Method:  http.MethodGet,
		Expires: expires,
		QueryParameters: url.Values{
			"response-content-disposition": {"attachment; filename=" + DownloadName(b)},
		},
		Insecure: g.cfg.EmulatorHost != "" && !strings.HasPrefix(g.cfg.EmulatorHost, "https://"),
	}
	if len(g.cfg.SignerKey) > 0 {
		opts.GoogleAccessID, opts.PrivateKey = g.cfg.SignerEmail, g.cfg.SignerKey
	} else {
		email, sign, err := g.iamSigner(ctx)
		if err != nil {
			return "", err
		}
		opts.GoogleAccessID, opts.SignBytes = email, sign
	}
	return g.bucket.SignedURL(b.Name, opts)
}

// iamSigner signs through the IAM Credentials API as the instance's service
// account (which needs roles/iam.serviceAccountTokenCreator on itself). The
// library's own fallback signs without a deadline; this one uses ctx.
func (g *GCS) iamSigner(ctx context.Context) (string, func([]byte) ([]byte, error), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.iam == nil { // found once; a failure is tried again next time
		email := g.cfg.SignerEmail
		var err error
		if email == "" {
			if email, err = metadata.EmailWithContext(ctx, "default"); err != nil {
				return "", nil, fmt.Errorf("URL signing identity: %w", err)
			}
		}
		iam, err := iamcredentials.NewService(context.Background())
		if err != nil {
			return "", nil, fmt.Errorf("URL signing client: %w", err)
		}
		g.iam, g.email = iam, email
	}
	iam, email := g.iam, g.email
	sign := func(payload []byte) ([]byte, error) {
		resp, err := iam.Projects.ServiceAccounts.SignBlob("projects/-/serviceAccounts/"+email,
			&iamcredentials.SignBlobRequest{Payload: base64.StdEncoding.EncodeToString(payload)}).Context(ctx).Do()
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(resp.SignedBlob)
	}
	return email, sign, nil
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func gaxBackoff() gax.Backoff {
	return gax.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
}
