// Package audit writes one entry per use of a key, successful or not, to the
// Cloud Logging log "pixashot-audit": who (client, key version, caller IP),
// what (route, target host) and how it ended (outcome, status, bytes). It
// never records a token, a header value or page content.
package audit

import (
	"context"
	"log/slog"

	"cloud.google.com/go/logging"
	"google.golang.org/api/option"
	mrpb "google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// LogID is the log the entries go to.
const LogID = "pixashot-audit"

// Entry is one audited request.
type Entry struct {
	Client     string `json:"client,omitempty"`
	KeyVersion string `json:"key_version,omitempty"`
	Route      string `json:"route"`
	Outcome    string `json:"outcome"` // allowed, denied, rate_limited, failed
	Reason     string `json:"reason,omitempty"`
	Status     int    `json:"status"`
	Target     string `json:"target_host,omitempty"`
	Bytes      int64  `json:"bytes"`
	CallerIP   string `json:"caller_ip,omitempty"`
	CaptureID  string `json:"capture_id,omitempty"`
}

// Sink receives entries.
type Sink interface {
	Write(Entry)
	Close() error
}

// Cloud writes to Cloud Logging through the client library (batched, in the
// background; Close flushes).
type Cloud struct {
	client *logging.Client
	lg     *logging.Logger
}

// NewCloud opens the audit log of project. With endpoint set, it talks
// plaintext gRPC to a stand-in (tests, local runs).
func NewCloud(ctx context.Context, project, endpoint string, onError func(error)) (*Cloud, error) {
	var opts []option.ClientOption
	var lopts []logging.LoggerOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		// No metadata server to detect the resource from.
		lopts = append(lopts, logging.CommonResource(&mrpb.MonitoredResource{Type: "global"}))
	}
	c, err := logging.NewClient(ctx, "projects/"+project, opts...)
	if err != nil {
		return nil, err
	}
	c.OnError = onError
	return &Cloud{client: c, lg: c.Logger(LogID, lopts...)}, nil
}

// Write implements Sink.
func (c *Cloud) Write(e Entry) {
	sev := logging.Info
	if e.Outcome != "allowed" {
		sev = logging.Warning
	}
	c.lg.Log(logging.Entry{Payload: e, Severity: sev, Labels: map[string]string{"client": e.Client}})
}

// Close flushes and closes.
func (c *Cloud) Close() error {
	c.lg.Flush()
	return c.client.Close()
}

// Stdout writes entries as structured log lines, for local runs without a project.
type Stdout struct{ Log *slog.Logger }

// Write implements Sink.
func (s Stdout) Write(e Entry) {
	s.Log.Info("audit", "log", LogID, "audit", e)
}

// Close implements Sink.
func (Stdout) Close() error { return nil }
