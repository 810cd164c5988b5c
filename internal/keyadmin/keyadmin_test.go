package keyadmin

import (
	"bytes"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
)

// keysCommand runs `pixashot keys …` against a Secret Manager stand-in.
func keysCommand(t *testing.T) (*fakesm.Server, func(args ...string) (string, int)) {
	t.Helper()
	fake := fakesm.StartT(t)
	env := func(k string) string {
		return map[string]string{"AUTH_SECRET_PROJECT": "proj", "SECRET_MANAGER_ENDPOINT": fake.Addr}[k]
	}
	return fake, func(args ...string) (string, int) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, env, &out, &errOut)
		return strings.TrimSpace(out.String() + errOut.String()), code
	}
}

func TestKeysCommands(t *testing.T) {
	fake, keys := keysCommand(t)
	first, code := keys("create", "acme")
	if code != 0 || len(first) != 43 {
		t.Fatalf("create: %d %q", code, first)
	}
	if _, code := keys("create", "Not Valid"); code == 0 {
		t.Error("an invalid client id was accepted")
	}
	// What create made is what the service loads.
	client, _ := keystore.NewClient(context.Background(), fake.Addr)
	defer client.Close()
	store := keystore.New(client, keystore.Config{Project: "proj", MaxAge: time.Hour})
	authOK := func(tok string) bool {
		if err := store.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err := store.Authenticate(tok)
		return err == nil
	}
	if !authOK(first) {
		t.Fatal("the created key does not authenticate")
	}
	// Within the grace period both keys work; with no grace the old one goes.
	out, code := keys("rotate", "acme")
	second := strings.Split(out, "\n")[0]
	if code != 0 || !authOK(first) || !authOK(second) {
		t.Fatalf("rotate with grace: %d %q", code, out)
	}
	out, code = keys("rotate", "acme", "-grace", "0s")
	third := strings.Split(out, "\n")[0]
	if code != 0 || strings.Count(out, "disabled") != 2 || authOK(first) || authOK(second) || !authOK(third) {
		t.Fatalf("rotate without grace: %d %q", code, out)
	}
	list, code := keys("list")
	if code != 0 || !strings.Contains(list, "acme") || strings.Count(list, "DISABLED") != 2 || strings.Count(list, "ENABLED") != 1 {
		t.Fatalf("list: %q", list)
	}
	for _, k := range []string{first, second, third} {
		if strings.Contains(list, k) {
			t.Fatal("list shows a key")
		}
	}
	if out, code := keys("revoke", "acme"); code != 0 || !strings.Contains(out, "versions/3") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if err := store.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(third); !errors.Is(err, auth.ErrInvalid) {
		t.Fatal("a revoked key still authenticates")
	}
	if _, code := keys("revoke", "acme"); code == 0 {
		t.Error("revoking nothing reported success")
	}
	// Terraform makes the shells; create adds the first key to one, but not
	// to a secret of that name labelled for someone else.
	fake.Put("proj", "pixashot-client-shell", map[string]string{"pixashot-client": "shell"}, "", time.Now())
	fake.SetState("projects/proj/secrets/pixashot-client-shell/versions/1", secretmanagerpb.SecretVersion_DESTROYED)
	if tok, code := keys("create", "shell"); code != 0 || len(tok) != 43 {
		t.Errorf("create on a Terraform shell: %d %q", code, tok)
	}
	fake.Put("proj", "pixashot-client-mislabelled", map[string]string{"pixashot-client": "other"}, "x", time.Now())
	if out, code := keys("create", "mislabelled"); code == 0 || !strings.Contains(out, "without the label") {
		t.Errorf("create on a mislabelled secret: %d %q", code, out)
	}
}
