package keyadmin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// keys webhook makes what the service loads as the client's webhook keys;
// after a second one, both sign, newest first; other clients have none.
func TestWebhookKeys(t *testing.T) {
	fake, keys := keysCommand(t)
	first, code := keys("webhook", "acme")
	if code != 0 || !strings.HasPrefix(first, "whsec_") {
		t.Fatalf("webhook: %d %q", code, first)
	}
	if _, code := keys("webhook", "dev"); code == 0 {
		t.Error("a reserved client got webhook keys")
	}
	client, _ := keystore.NewClient(context.Background(), fake.Addr)
	defer client.Close()
	wk := keystore.NewWebhookKeys(client, "proj", slog.New(slog.NewTextHandler(io.Discard, nil)))
	load := func() [][]byte {
		if err := wk.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		return wk.Keys("acme")
	}
	k1, _ := webhook.ParseSecret(first)
	if got := load(); len(got) != 1 || !bytes.Equal(got[0], k1) {
		t.Fatalf("after one key: %d keys", len(got))
	}
	second, _ := keys("webhook", "acme")
	third, _ := keys("webhook", "acme")
	k2, _ := webhook.ParseSecret(second)
	k3, _ := webhook.ParseSecret(third)
	if got := load(); len(got) != 2 || !bytes.Equal(got[0], k3) || !bytes.Equal(got[1], k2) {
		t.Errorf("after three keys: %d, want the two newest, newest first", len(got))
	}
	if wk.Keys("other") != nil {
		t.Error("another client has keys")
	}
	// A secret with the label but another name is not trusted.
	fake.Put("proj", "stolen", map[string]string{keystore.WebhookLabel: "other"}, first, time.Now())
	if load(); wk.Keys("other") != nil {
		t.Error("a secret not named pixashot-webhook-other signs for other")
	}
}
