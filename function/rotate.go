package function

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/keyadmin"
	"github.com/pixashot/pixashot-cloudrun/internal/keystore"
)

func init() {
	functions.CloudEvent("RotateKey", RotateKey)
}

// pubsubMessage is the data of a Pub/Sub CloudEvent.
type pubsubMessage struct {
	Message struct {
		Data       []byte            `json:"data"`
		Attributes map[string]string `json:"attributes"`
	} `json:"message"`
}

// RotateKey is the second function target: it receives Secret Manager's
// notifications through Pub/Sub and rotates the secret on SECRET_ROTATE (it
// ignores the other event types). It runs under its own service account,
// the only one allowed to add and disable versions.
func RotateKey(ctx context.Context, e event.Event) error {
	var m pubsubMessage
	if err := json.Unmarshal(e.Data(), &m); err != nil {
		return fmt.Errorf("not a Pub/Sub message: %w", err)
	}
	if m.Message.Attributes["eventType"] != "SECRET_ROTATE" {
		return nil
	}
	var secret struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal(m.Message.Data, &secret); err != nil || secret.Name == "" {
		return fmt.Errorf("SECRET_ROTATE without a secret: %v", err)
	}
	if secret.Labels[keystore.ClientLabel] == "" {
		slog.Info("rotation event for a secret that is not a client key; ignored", "secret", secret.Name)
		return nil
	}
	grace, err := config.RotationGrace(os.Getenv)
	if err != nil {
		return err
	}
	client, err := keystore.NewClient(ctx, os.Getenv("SECRET_MANAGER_ENDPOINT"))
	if err != nil {
		return err
	}
	defer client.Close()
	a := &keyadmin.Admin{Client: client, Now: time.Now}
	_, disabled, err := a.Rotate(ctx, secret.Name, grace)
	if err != nil {
		return err
	}
	slog.Info("client key rotated", "event", "key_rotated", "secret", secret.Name, "disabled", len(disabled))
	return nil
}
