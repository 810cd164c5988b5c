// Package keystore holds the client tokens kept in Secret Manager. Each secret
// labelled pixashot-client=<id> belongs to one client, and every ENABLED
// version of it is a valid token: a new version can be added before the old
// one is disabled, so rotation never fails a request. Tokens are held only as
// hashes; the set is reloaded in the background and swapped atomically.
package keystore

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pixashot/pixashot-cloudrun/internal/auth"
)

// ClientLabel marks a secret as one client's token; its value is the client id.
const ClientLabel = "pixashot-client"

// NewClient connects to Secret Manager, or to a plaintext stand-in at endpoint
// (tests and local runs).
func NewClient(ctx context.Context, endpoint string) (*secretmanager.Client, error) {
	if endpoint == "" {
		return secretmanager.NewClient(ctx)
	}
	return secretmanager.NewClient(ctx,
		option.WithEndpoint(endpoint),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

// Config of a Store.
type Config struct {
	Project string        // AUTH_SECRET_PROJECT
	Refresh time.Duration // AUTH_REFRESH_INTERVAL
	MaxAge  time.Duration // AUTH_TOKEN_MAX_AGE
	Logger  *slog.Logger
}

// Store authenticates tokens against the loaded versions.
type Store struct {
	cfg    Config
	client *secretmanager.Client
	set    atomic.Pointer[keySet]
	now    func() time.Time
}

// keySet is one load: keys[i] was created at created[i].
type keySet struct {
	keys    []auth.Key
	created []time.Time
}

// New returns a store that reads through client; nothing is loaded yet.
func New(client *secretmanager.Client, cfg Config) *Store {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Store{cfg: cfg, client: client, now: time.Now}
}

// Ready reports whether a set with at least one token is loaded. Until then
// every token is refused: the store fails closed.
func (s *Store) Ready() bool {
	p := s.set.Load()
	return p != nil && len(p.keys) > 0
}

// Authenticate implements auth.Authenticator.
func (s *Store) Authenticate(token string) (auth.Principal, error) {
	p := s.set.Load()
	if p == nil {
		return auth.Principal{}, auth.ErrInvalid
	}
	i := auth.Match(p.keys, token)
	if i < 0 {
		return auth.Principal{}, auth.ErrInvalid
	}
	// A version that aged past the limit since the last load is refused now.
	// The client is named (for the metric of refusals), never admitted.
	if s.now().Sub(p.created[i]) > s.cfg.MaxAge {
		return p.keys[i].Principal(), auth.ErrExpired
	}
	return p.keys[i].Principal(), nil
}

// Active implements auth.KeyChecker over the loaded set.
func (s *Store) Active(client, version string) bool {
	p := s.set.Load()
	return p != nil && auth.ActiveIn(p.keys, client, version)
}

// SecretPrefix starts the name of every client secret: a secret is trusted
// as client <id> only if it is named SecretPrefix+<id> and labelled
// pixashot-client=<id>. The label alone would let anyone who may label a
// secret mint a client; the name ties it to the secrets Terraform and the
// keys command create, which IAM limits to the project's admins.
const SecretPrefix = "pixashot-client-"

// ErrPartial is a load in which some client secrets could not be read.
var ErrPartial = errors.New("some client secrets could not be read")

// Load reads every enabled version of every client secret, one secret at a
// time. A secret that cannot be read keeps what the last load had of it
// (less any version no longer enabled, where the listing still works), so
// one unreadable secret neither revokes its client nor stops the other
// clients' disables and additions from taking effect. Only a failed listing
// keeps the whole last set.
func (s *Store) Load(ctx context.Context) error {
	var set keySet
	prev := s.set.Load()
	var failed []string
	it := s.client.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{
		Parent: "projects/" + s.cfg.Project, Filter: "labels." + ClientLabel + ":*"})
	for {
		sec, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("list secrets: %w", err)
		}
		client := sec.GetLabels()[ClientLabel]
		if !trusted(s.cfg.Logger, "a client key", SecretPrefix, sec.GetName(), client) {
			continue
		}
		if err := s.loadVersions(ctx, &set, sec.GetName(), client); err != nil {
			failed = append(failed, sec.GetName())
			s.cfg.Logger.Error("a client secret could not be read; keeping what the last load had of it",
				"event", "key_load_failed", "secret", sec.GetName(), "error", err)
			s.keepPrevious(ctx, &set, prev, sec.GetName())
		}
	}
	s.set.Store(&set)
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s", ErrPartial, strings.Join(failed, ", "))
	}
	return nil
}

// trusted applies the naming rule (prefix+<id>) and the reserved ids to a
// secret labelled as what for client.
func trusted(log *slog.Logger, what, prefix, secret, client string) bool {
	switch {
	case client == "":
		return false
	case !auth.ValidClientID(client) || auth.Reserved(client) || !strings.HasSuffix(secret, "/secrets/"+prefix+client):
		log.Warn("a secret labelled as "+what+" is not trusted: its name must be "+prefix+"<id> for a valid, unreserved id",
			"event", "key_untrusted", "secret", secret, "label", client)
		return false
	}
	return true
}

// keepPrevious copies the previous load's keys of secret into set, dropping
// versions the listing says are no longer enabled.
func (s *Store) keepPrevious(ctx context.Context, set *keySet, prev *keySet, secret string) {
	if prev == nil {
		return
	}
	enabled, listed := s.enabledNames(ctx, secret)
	for i, k := range prev.keys {
		if !strings.HasPrefix(k.Version, versionID(secret+"/versions/")) {
			continue
		}
		if listed && !enabled[k.Version] {
			continue // disabled since: the disable applies even now
		}
		set.keys = append(set.keys, k)
		set.created = append(set.created, prev.created[i])
	}
}

// enabledNames lists the enabled versions of secret without reading them.
func (s *Store) enabledNames(ctx context.Context, secret string) (map[string]bool, bool) {
	vs, err := listEnabled(ctx, s.client, secret)
	if err != nil {
		return nil, false
	}
	out := make(map[string]bool, len(vs))
	for _, v := range vs {
		out[versionID(v.GetName())] = true
	}
	return out, true
}

// loadVersions adds the enabled versions of one client's secret to set.
func (s *Store) loadVersions(ctx context.Context, set *keySet, secret, client string) error {
	vs, err := EnabledVersions(ctx, s.client, secret)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if s.now().Sub(v.Created) > s.cfg.MaxAge {
			// Still loaded, so its holder hears "expired" rather than "unknown".
			s.cfg.Logger.Warn("client token version is past its maximum age", "client", client, "version", versionID(v.Name))
		}
		token := strings.TrimSpace(string(v.Data))
		if token == "" {
			continue
		}
		set.keys = append(set.keys, auth.Key{Client: client, Version: versionID(v.Name), Hash: auth.Hash(token)})
		set.created = append(set.created, v.Created)
	}
	return nil
}

// Version is the payload of one enabled secret version.
type Version struct {
	Name    string
	Created time.Time
	Data    []byte
}

// EnabledVersions reads every ENABLED version of secret, newest first, and
// checks each payload's CRC32C.
func EnabledVersions(ctx context.Context, client *secretmanager.Client, secret string) ([]Version, error) {
	vs, err := listEnabled(ctx, client, secret)
	if err != nil {
		return nil, err
	}
	var out []Version
	for _, v := range vs {
		res, err := client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: v.GetName()})
		if err != nil {
			return nil, fmt.Errorf("access %s: %w", v.GetName(), err)
		}
		data := res.GetPayload().GetData()
		if sum := res.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != *sum {
			return nil, fmt.Errorf("access %s: payload checksum mismatch", v.GetName())
		}
		out = append(out, Version{Name: v.GetName(), Created: v.GetCreateTime().AsTime(), Data: data})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// listEnabled lists the ENABLED versions of secret, without their payloads.
func listEnabled(ctx context.Context, client *secretmanager.Client, secret string) ([]*secretmanagerpb.SecretVersion, error) {
	var out []*secretmanagerpb.SecretVersion
	it := client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: secret, Filter: "state:ENABLED"})
	for {
		v, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", secret, err)
		}
		if v.GetState() == secretmanagerpb.SecretVersion_ENABLED {
			out = append(out, v)
		}
	}
}

// versionID is "<secret>/<n>" from a full version name, for logs and audit.
func versionID(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) >= 6 {
		return parts[3] + "/" + parts[5]
	}
	return name
}

// Run reloads the set every Refresh until ctx ends; see Refresh.
func (s *Store) Run(ctx context.Context) {
	Refresh(ctx, s.cfg.Refresh, s.Ready, s.Load, s.cfg.Logger, "client tokens")
}

// Refresh calls load every interval (with jitter, so instances spread their
// reads over the quota) until ctx ends; sooner while ready reports false. A
// failed load is logged, and whatever the last good load set stays in use.
func Refresh(ctx context.Context, interval time.Duration, ready func() bool, load func(context.Context) error, log *slog.Logger, what string) {
	for {
		wait := interval
		if !ready() {
			wait = min(wait, 5*time.Second) // not yet loaded: retry soon
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/5+1)) - wait/10
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait + jitter):
		}
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := load(lctx); err != nil && ctx.Err() == nil {
			log.Error("reloading "+what+" failed; keeping the last good set", "error", err)
		}
		cancel()
	}
}
