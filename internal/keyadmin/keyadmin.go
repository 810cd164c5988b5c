// Package keyadmin manages client keys in Secret Manager: create, rotate,
// revoke and list. The capture service only reads keys; this is the part that
// writes them, for operators and for the rotation function.
package keyadmin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
)

// Admin writes the keys of one project.
type Admin struct {
	Client  *secretmanager.Client
	Project string
	Now     func() time.Time
}

// NewToken is 32 random bytes, URL-safe.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SecretName is the full name of a client's secret.
func (a *Admin) SecretName(client string) string {
	return "projects/" + a.Project + "/secrets/" + keystore.SecretPrefix + client
}

// Create makes a client's secret with a first key and returns the key.
func (a *Admin) Create(ctx context.Context, client string) (string, error) {
	if !auth.ValidClientID(client) {
		return "", errors.New("a client id is 1 to 63 lower-case letters, digits, _ or -")
	}
	if auth.Reserved(client) {
		return "", errors.New("the client ids dev and signed are reserved for the built-in principals")
	}
	if _, err := a.ensureSecret(ctx, keystore.SecretPrefix+client, keystore.ClientLabel, client); err != nil {
		return "", err
	}
	return a.add(ctx, a.SecretName(client))
}

// Webhook adds a webhook signing key to the client's webhook secret
// (creating it, labelled, when Terraform has not), and returns it.
func (a *Admin) Webhook(ctx context.Context, client string) (string, error) {
	if !auth.ValidClientID(client) || auth.Reserved(client) {
		return "", errors.New("a client id is 1 to 63 lower-case letters, digits, _ or -, and not dev or signed")
	}
	name, err := a.ensureSecret(ctx, keystore.WebhookPrefix+client, keystore.WebhookLabel, client)
	if err != nil {
		return "", err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	_, err = a.Client.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: []byte(secret)}})
	return secret, err
}

// ensureSecret creates the secret id labelled label=client, or checks that
// the one Terraform made carries that label (or what is added would not count).
func (a *Admin) ensureSecret(ctx context.Context, id, label, client string) (string, error) {
	name := "projects/" + a.Project + "/secrets/" + id
	_, err := a.Client.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{
		Parent: "projects/" + a.Project, SecretId: id,
		Secret: &secretmanagerpb.Secret{
			Labels:      map[string]string{label: client},
			Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}},
		}})
	if status.Code(err) == codes.AlreadyExists {
		s, gerr := a.Client.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: name})
		if gerr != nil {
			return "", gerr
		}
		if s.GetLabels()[label] != client {
			return "", fmt.Errorf("secret %s exists without the label %s=%s", name, label, client)
		}
		err = nil
	}
	return name, err
}

func (a *Admin) add(ctx context.Context, secret string) (string, error) {
	tok := NewToken()
	_, err := a.Client.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: secret, Payload: &secretmanagerpb.SecretPayload{Data: []byte(tok)}})
	return tok, err
}

// Rotate adds a new key to secret and disables the enabled versions older
// than grace, never the newest: clients that picked up a key within the grace
// period keep working, and the secret always keeps a valid key.
func (a *Admin) Rotate(ctx context.Context, secret string, grace time.Duration) (string, []string, error) {
	tok, err := a.add(ctx, secret)
	if err != nil {
		return "", nil, err
	}
	vs, err := a.versions(ctx, secret)
	if err != nil {
		return tok, nil, err
	}
	var disabled []string
	for i, v := range vs {
		if i == 0 || v.GetState() != secretmanagerpb.SecretVersion_ENABLED || a.Now().Sub(v.GetCreateTime().AsTime()) <= grace {
			continue
		}
		if _, err := a.Client.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v.GetName()}); err != nil {
			return tok, disabled, err
		}
		disabled = append(disabled, v.GetName())
	}
	return tok, disabled, nil
}

// Revoke disables one version ("" for every enabled one) of a client's secret.
func (a *Admin) Revoke(ctx context.Context, client, version string) ([]string, error) {
	vs, err := a.versions(ctx, a.SecretName(client))
	if err != nil {
		return nil, err
	}
	var done []string
	for _, v := range vs {
		if v.GetState() != secretmanagerpb.SecretVersion_ENABLED || (version != "" && !strings.HasSuffix(v.GetName(), "/versions/"+version)) {
			continue
		}
		if _, err := a.Client.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: v.GetName()}); err != nil {
			return done, err
		}
		done = append(done, v.GetName())
	}
	if len(done) == 0 {
		return nil, fmt.Errorf("no enabled version %q of client %s", version, client)
	}
	return done, nil
}

// versions lists every version of secret, newest first.
func (a *Admin) versions(ctx context.Context, secret string) ([]*secretmanagerpb.SecretVersion, error) {
	var out []*secretmanagerpb.SecretVersion
	it := a.Client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: secret})
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetCreateTime().AsTime().After(out[j].GetCreateTime().AsTime()) })
	return out, nil
}

// Row is one version in a listing. It never holds a key.
type Row struct {
	Client, Version, State string
	Age                    time.Duration
}

// List lists every version of every client secret.
func (a *Admin) List(ctx context.Context) ([]Row, error) {
	var rows []Row
	it := a.Client.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{Parent: "projects/" + a.Project, Filter: "labels." + keystore.ClientLabel + ":*"})
	for {
		s, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		vs, err := a.versions(ctx, s.GetName())
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			rows = append(rows, Row{Client: s.GetLabels()[keystore.ClientLabel], Version: v.GetName()[strings.LastIndex(v.GetName(), "/")+1:],
				State: v.GetState().String(), Age: a.Now().Sub(v.GetCreateTime().AsTime()).Round(time.Second)})
		}
	}
}
