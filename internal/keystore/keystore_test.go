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
	fake.Put("p", "pixashot-client-acme", labels, a+"\n", time.Now()) // gcloud --data-file leaves a newline
	fake.Put("p", "other", map[string]string{"team": "x"}, b, time.Now())
	if s.Ready() {
		t.Fatal("ready before any load")
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(a)
	if err != nil || p.Client != "acme" || p.Version != "pixashot-client-acme/1" {
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
	v1 := fake.Put("p", "pixashot-client-acme", labels, old, time.Now())
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
	fake.Put("p", "pixashot-client-acme", labels, fresh, time.Now())
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
	fake.Put("p", "pixashot-client-acme", labels, aged, time.Now().Add(-91*24*time.Hour))
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(aged); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("over-age version: %v", err)
	}
	// One that ages past the limit after the load is refused as well.
	young := token()
	fake.Put("p", "pixashot-client-acme", labels, young, time.Now().Add(-89*24*time.Hour))
	s.Load(context.Background())
	s.now = func() time.Time { return time.Now().Add(2 * 24 * time.Hour) }
	if _, err := s.Authenticate(young); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("aged after load: %v", err)
	}
}

func TestOutageKeepsTheLastGoodSet(t *testing.T) {
	fake, s, logs := setup(t, 30*time.Millisecond)
	tok := token()
	fake.Put("p", "pixashot-client-acme", labels, tok, time.Now())
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

// One unreadable secret no longer freezes the whole set: the other clients'
// disables and additions apply, the unreadable one keeps its last versions
// less those disabled since, and the failure is logged.
func TestOneUnreadableSecretDoesNotFreezeTheSet(t *testing.T) {
	fake, s, logs := setup(t, time.Hour)
	acmeOld, acmeNew, betaTok := token(), token(), token()
	v1 := fake.Put("p", "pixashot-client-acme", labels, acmeOld, time.Now())
	fake.Put("p", "pixashot-client-beta", map[string]string{ClientLabel: "beta"}, betaTok, time.Now())
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	fake.Deny("projects/p/secrets/pixashot-client-beta", true)
	fake.Put("p", "pixashot-client-acme", labels, acmeNew, time.Now())
	if err := fake.SetState(v1, secretmanagerpb.SecretVersion_DISABLED); err != nil {
		t.Fatal(err)
	}
	if err := s.Load(context.Background()); !errors.Is(err, ErrPartial) {
		t.Fatalf("a partial load: %v", err)
	}
	if _, err := s.Authenticate(acmeOld); err == nil {
		t.Error("a disable did not take effect while another secret was unreadable")
	}
	if p, err := s.Authenticate(acmeNew); err != nil || p.Client != "acme" {
		t.Errorf("a new version did not take effect: %v", err)
	}
	if p, err := s.Authenticate(betaTok); err != nil || p.Client != "beta" {
		t.Errorf("the unreadable client lost its last good key: %v", err)
	}
	if !strings.Contains(logs.String(), "key_load_failed") {
		t.Error("the unreadable secret was not logged")
	}
	// A new instance with the same denial is ready with the readable clients.
	_, fresh, _ := setup(t, time.Hour)
	fresh.client = s.client
	if fresh.Load(context.Background()); !fresh.Ready() {
		t.Error("one unreadable secret kept a new instance from being ready")
	}
}

// Only secrets named pixashot-client-<id> with the matching label are
// clients, and never the built-in principals.
func TestOnlyTrustedSecretsAreClients(t *testing.T) {
	fake, s, _ := setup(t, time.Hour)
	minted, reserved, ok := token(), token(), token()
	fake.Put("p", "anything-at-all", map[string]string{ClientLabel: "mallory"}, minted, time.Now())
	fake.Put("p", "pixashot-client-dev", map[string]string{ClientLabel: "dev"}, reserved, time.Now())
	fake.Put("p", "pixashot-client-x", map[string]string{ClientLabel: "y"}, token(), time.Now())
	fake.Put("p", "pixashot-client-acme", labels, ok, time.Now())
	s.Load(context.Background())
	for name, tok := range map[string]string{"a label on another secret": minted, "the reserved id dev": reserved} {
		if _, err := s.Authenticate(tok); err == nil {
			t.Errorf("%s became a client", name)
		}
	}
	if _, err := s.Authenticate(ok); err != nil {
		t.Errorf("the trusted secret: %v", err)
	}
}
