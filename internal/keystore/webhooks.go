package keystore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"

	"github.com/pixashot/pixashot-cloudrun/internal/webhook"
)

// A client's webhook signing keys live beside its tokens: the secret
// WebhookPrefix+<id>, labelled WebhookLabel=<id> (the same naming rule as
// client secrets), each version a whsec_ secret. The two newest enabled
// versions sign, so a receiver can move to a new key without a gap.
const (
	WebhookPrefix = "pixashot-webhook-"
	WebhookLabel  = "pixashot-webhook"
	signingKeys   = 2
)

// WebhookKeys holds every client's webhook keys, reloaded like the tokens.
type WebhookKeys struct {
	client  *secretmanager.Client
	project string
	log     *slog.Logger
	keys    atomic.Pointer[map[string][][]byte]
}

// NewWebhookKeys reads through client; nothing is loaded yet.
func NewWebhookKeys(client *secretmanager.Client, project string, log *slog.Logger) *WebhookKeys {
	return &WebhookKeys{client: client, project: project, log: log}
}

// Keys are the client's signing keys, newest first; nil when it has none.
func (w *WebhookKeys) Keys(client string) [][]byte {
	if m := w.keys.Load(); m != nil {
		return (*m)[client]
	}
	return nil
}

// Loaded reports whether a load has finished.
func (w *WebhookKeys) Loaded() bool { return w.keys.Load() != nil }

// Load reads every client's webhook secret. One that cannot be read keeps
// its previous keys; a version that is not a whsec_ secret is skipped and
// logged.
func (w *WebhookKeys) Load(ctx context.Context) error {
	prev := map[string][][]byte{}
	if p := w.keys.Load(); p != nil {
		prev = *p
	}
	next := map[string][][]byte{}
	var failed []string
	it := w.client.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{
		Parent: "projects/" + w.project, Filter: "labels." + WebhookLabel + ":*"})
	for {
		sec, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("list webhook secrets: %w", err)
		}
		client := sec.GetLabels()[WebhookLabel]
		if !trusted(w.log, "webhook keys", WebhookPrefix, sec.GetName(), client) {
			continue
		}
		vs, err := EnabledVersions(ctx, w.client, sec.GetName())
		if err != nil {
			failed = append(failed, sec.GetName())
			w.log.Error("a webhook secret could not be read; keeping its last keys", "event", "key_load_failed",
				"secret", sec.GetName(), "error", err)
			next[client] = prev[client]
			continue
		}
		for _, v := range vs {
			key, err := webhook.ParseSecret(string(v.Data))
			if err != nil {
				w.log.Warn("a webhook secret version is not a whsec_ secret; skipped", "event", "key_untrusted",
					"version", versionID(v.Name))
				continue
			}
			if len(next[client]) < signingKeys {
				next[client] = append(next[client], key)
			}
		}
	}
	w.keys.Store(&next)
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s", ErrPartial, strings.Join(failed, ", "))
	}
	return nil
}
