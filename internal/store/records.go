package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
)

// Records are small JSON documents kept beside a client's captures, under
// the same prefix, lifecycle and atomic writes: the state of asynchronous
// jobs, their batches and idempotency keys, and monitors.

var (
	recordKinds = map[string]bool{"jobs": true, "batches": true, "idempotency": true, "monitors": true, "monitor-index": true}
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

func recordBlob(client, kind, key string, data []byte) (Blob, error) {
	name, err := recordName(client, kind, key)
	if err != nil {
		return Blob{}, fmt.Errorf("store: record %s/%s: %w", kind, key, err)
	}
	return Blob{Name: name, ContentType: "application/json", Size: int64(len(data)), Meta: map[string]string{metaClient: client}}, nil
}

// PutRecord writes a record, replacing any, retrying like Save.
func (s *Store) PutRecord(ctx context.Context, client, kind, key string, data []byte) error {
	b, err := recordBlob(client, kind, key, data)
	if err != nil {
		return err
	}
	return s.retry(ctx, "write record", func(ctx context.Context) error { return s.b.Write(ctx, b, data) })
}

// CreateRecord writes a record only where none is: ErrExists when one is,
// even one another instance wrote a moment before. data must be unique to
// the caller (a claim's random id), so that a retried write that had in
// fact landed is told apart from another writer's.
func (s *Store) CreateRecord(ctx context.Context, client, kind, key string, data []byte) error {
	return s.conditional(ctx, client, kind, key, data, ErrExists, "create record",
		func(ctx context.Context, b Blob) error { return s.b.Create(ctx, b, data) })
}

// SwapRecord replaces a record only while it still holds old: ErrChanged
// when another writer replaced it since it was read. data must be unique to
// the caller, as for CreateRecord.
func (s *Store) SwapRecord(ctx context.Context, client, kind, key string, old, data []byte) error {
	return s.conditional(ctx, client, kind, key, data, ErrChanged, "swap record",
		func(ctx context.Context, b Blob) error { return s.b.Swap(ctx, b, old, data) })
}

func (s *Store) conditional(ctx context.Context, client, kind, key string, data []byte, lost error, what string,
	op func(context.Context, Blob) error) error {
	b, err := recordBlob(client, kind, key, data)
	if err != nil {
		return err
	}
	err = s.retry(ctx, what, func(ctx context.Context) error { return op(ctx, b) })
	if !errors.Is(err, lost) {
		return err
	}
	// Lost, or won by an earlier try whose answer did not arrive.
	if cur, rerr := s.GetRecord(ctx, client, kind, key); rerr == nil && bytes.Equal(cur, data) {
		return nil
	}
	return lost
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
