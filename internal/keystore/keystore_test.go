package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
)

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var labels = map[string]string{ClientLabel: "acme"}

func setup(t *testing.T, refresh time.Duration) (*fakesm.Server, *Store, *bytes.Buffer) {
	t.Helper()
	fake := fakesm.StartT(t)
	c, err := NewClient(context.Background(), fake.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	logs := &bytes.Buffer{}
	s := New(c, Config{Project: "p", Refresh: refresh, MaxAge: 90 * 24 * time.Hour, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return fake, s, logs
}

func TestLoadAndAuthenticate(t *testing.T) {
	fake, s, logs := setup(t, time.Hour)
	a, b := token(), token()
	fake.Put("p", "acme-key", labels, a+"\n", time.Now()) // gcloud --data-file leaves a newline
	fake.Put("p", "other", map[string]string{"team": "x"}, b, time.Now())
	if s.Ready() {
		t.Fatal("ready before any load")
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(a)
	if err != nil || p.Client != "acme" || p.Version != "acme-key/1" {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := s.Authenticate(b); !errors.Is(err, auth.ErrInvalid) {
		t.Error("a secret without the client label is a token")
	}
	if strings.Contains(logs.String(), a) || strings.Contains(logs.String(), b) {
		t.Error("a token reached the log")
	}
}

func TestRotationWithoutAFailedRequest(t *testing.T) {
	fake, s, _ := setup(t, 50*time.Millisecond)
	old, fresh := token(), token()
	v1 := fake.Put("p", "acme-key", labels, old, time.Now())
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)

	// A client sends requests all along: first with the old token, then, once
	// the new version is out, with the new one.
	traffic := fakesm.StartTraffic(old, time.Millisecond, func(tok string) bool { _, err := s.Authenticate(tok); return err == nil })
	// The runbook: add the new version, wait a refresh (both valid), switch
	// the client over, disable the old version.
	fake.Put("p", "acme-key", labels, fresh, time.Now())
	time.Sleep(200 * time.Millisecond)
	traffic.Switch(fresh)
	time.Sleep(50 * time.Millisecond)
	if err := fake.SetState(v1, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	sent, failed := traffic.Stop()
	t.Logf("rotation: %d requests, %d failures", sent, failed)
	if failed != 0 || sent < 100 {
		t.Fatalf("%d of %d requests failed during the rotation", failed, sent)
	}
	if _, err := s.Authenticate(old); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("the disabled version still works: %v", err)
	}
}

func TestExpiredVersionIsRefused(t *testing.T) {
	fake, s, _ := setup(t, time.Hour)
	aged := token()
	fake.Put("p", "acme-key", labels, aged, time.Now().Add(-91*24*time.Hour))
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(aged); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("over-age version: %v", err)
	}
	// One that ages past the limit after the load is refused as well.
	young := token()
	fake.Put("p", "acme-key", labels, young, time.Now().Add(-89*24*time.Hour))
	s.Load(context.Background())
	s.now = func() time.Time { return time.Now().Add(2 * 24 * time.Hour) }
	if _, err := s.Authenticate(young); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("aged after load: %v", err)
	}
}

func TestOutageKeepsTheLastGoodSet(t *testing.T) {
	fake, s, logs := setup(t, 30*time.Millisecond)
	tok := token()
	fake.Put("p", "acme-key", labels, tok, time.Now())
	s.Load(context.Background())
	fake.Fail(true)
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	time.Sleep(200 * time.Millisecond)
	cancel()
	if _, err := s.Authenticate(tok); err != nil {
		t.Fatalf("the store stopped serving during an outage: %v", err)
	}
	if !strings.Contains(logs.String(), "keeping the last good set") {
		t.Error("the failing reloads were not logged")
	}
}

func TestNothingLoadableIsNotReady(t *testing.T) {
	fake, s, _ := setup(t, time.Hour)
	if err := s.Load(context.Background()); err != nil || s.Ready() {
		t.Fatalf("no client secrets: ready=%v err=%v", s.Ready(), err)
	}
	fake.Fail(true)
	if err := s.Load(context.Background()); err == nil || s.Ready() {
		t.Fatal("a failing Secret Manager made the store ready")
	}
	if _, err := s.Authenticate("anything"); err == nil {
		t.Fatal("an unloaded store accepted a token")
	}
}
