package store

import (
	"context"
	"fmt"
	"regexp"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
)

// Records are small JSON documents kept beside a client's captures, under
// the same prefix, lifecycle and atomic writes: the state of asynchronous
// jobs, their batches and idempotency keys.

var (
	recordKinds = map[string]bool{"jobs": true, "batches": true, "idempotency": true}
	recordKey   = regexp.MustCompile(`^[0-9a-f]{24}$|^[0-9a-f]{64}$`)
)

func recordName(client, kind, key string) (string, error) {
	if !recordKinds[kind] || !recordKey.MatchString(key) {
		return "", ErrNotFound
	}
	if !auth.ValidClientID(client) {
		return "", fmt.Errorf("store: client %q cannot name a prefix", client)
	}
	return client + "/" + kind + "/" + key, nil
}

// PutRecord writes a record, replacing any, retrying like Save.
func (s *Store) PutRecord(ctx context.Context, client, kind, key string, data []byte) error {
	name, err := recordName(client, kind, key)
	if err != nil {
		return fmt.Errorf("store: record %s/%s: %w", kind, key, err)
	}
	b := Blob{Name: name, ContentType: "application/json", Size: int64(len(data)), Meta: map[string]string{metaClient: client}}
	return s.retry(ctx, "write record", func(ctx context.Context) error { return s.b.Write(ctx, b, data) })
}

// GetRecord reads a record; ErrNotFound when there is none.
func (s *Store) GetRecord(ctx context.Context, client, kind, key string) ([]byte, error) {
	name, err := recordName(client, kind, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	return s.b.Read(ctx, name) // ErrNotFound from every backend
}

// DeleteRecord removes a record; ErrNotFound when there is none.
func (s *Store) DeleteRecord(ctx context.Context, client, kind, key string) error {
	name, err := recordName(client, kind, key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	return s.b.Delete(ctx, name)
}
