package function

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore/fakesm"
)

func pubsubEvent(t *testing.T, eventType string, secret any) event.Event {
	t.Helper()
	data, _ := json.Marshal(secret)
	var m pubsubMessage
	m.Message.Data = data
	m.Message.Attributes = map[string]string{"eventType": eventType}
	e := event.New()
	e.SetID("1")
	e.SetSource("//pubsub.googleapis.com/projects/proj/topics/rotation")
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	if err := e.SetData(event.ApplicationJSON, m); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRotateKeyOnSecretRotate(t *testing.T) {
	fake := fakesm.StartT(t)
	t.Setenv("SECRET_MANAGER_ENDPOINT", fake.Addr)
	t.Setenv("ROTATION_GRACE", "1h")
	labels := map[string]string{keystore.ClientLabel: "acme"}
	old := fake.Put("proj", "pixashot-client-acme", labels, "old-key", time.Now().Add(-48*time.Hour))
	recent := fake.Put("proj", "pixashot-client-acme", labels, "recent-key", time.Now().Add(-10*time.Minute))
	secret := map[string]any{"name": "projects/proj/secrets/pixashot-client-acme", "labels": labels}

	// Other event types change nothing.
	if err := RotateKey(context.Background(), pubsubEvent(t, "SECRET_VERSION_ADD", secret)); err != nil {
		t.Fatal(err)
	}
	if err := RotateKey(context.Background(), pubsubEvent(t, "SECRET_ROTATE", secret)); err != nil {
		t.Fatal(err)
	}
	client, _ := keystore.NewClient(context.Background(), fake.Addr)
	defer client.Close()
	vs, err := keystore.EnabledVersions(context.Background(), client, secret["name"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// The new version and the one inside the grace period stay; the old one goes.
	if len(vs) != 2 || vs[1].Name != recent || len(vs[0].Data) != 43 {
		t.Fatalf("after rotation: %+v", vs)
	}
	for _, v := range vs {
		if v.Name == old {
			t.Fatal("the version past the grace period is still enabled")
		}
	}
	// A secret that is not a client key is left alone.
	other := map[string]any{"name": "projects/proj/secrets/url-signing"}
	if err := RotateKey(context.Background(), pubsubEvent(t, "SECRET_ROTATE", other)); err != nil {
		t.Fatal(err)
	}
}
