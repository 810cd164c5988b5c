// Package webhook signs and delivers the service's webhooks per the Standard
// Webhooks specification (webhook-id, webhook-timestamp, webhook-signature:
// v1,<base64 HMAC-SHA256 of "id.timestamp.body">), through a client that
// dials only what the egress guard allows, follows no redirect and reads
// little of the answer.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/egress"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// secretPrefix is how the specification writes secrets: whsec_ + base64.
const secretPrefix = "whsec_"

// ParseSecret reads a whsec_… secret (WEBHOOK_SIGNING_KEY) into its key.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return nil, errors.New("must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 24 {
		return nil, errors.New("must be whsec_ followed by at least 24 bytes in base64")
	}
	return key, nil
}

// Sign is the webhook-signature header's value for one message: one v1
// signature per key, space-separated, as the specification allows during a
// key's rotation.
func Sign(keys [][]byte, id string, ts time.Time, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "%s.%d.", id, ts.Unix())
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

// maxURL bounds a webhook URL.
const maxURL = 2048

// CheckURL is the part of the policy that needs no lookup, the same as a
// page's URL: http(s), a host, no credentials, a bounded length. The
// address is the egress guard's to judge, when the delivery dials.
func CheckURL(s string) error {
	if reason := options.CheckHTTPURL(s, maxURL); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// Dialer is the egress guard's dial.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// Sender delivers webhooks with bounded retries.
type Sender struct {
	client   *http.Client
	Attempts int           // tries in all; default 6
	Backoff  time.Duration // before the second try, doubling after; default 1s
	now      func() time.Time
}

// maxAnswer is how much of a receiver's answer is read (and then dropped):
// enough to reuse the connection, never a receiver's whole response.
const maxAnswer = 4 << 10

// NewSender makes a sender whose every connection is dial's.
func NewSender(dial Dialer) *Sender {
	tr := &http.Transport{
		DialContext:            dial,
		Proxy:                  nil, // the guard is the only way out
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
	}
	return &Sender{
		client: &http.Client{Transport: tr, Timeout: 15 * time.Second,
			// A redirect is the receiver's answer, not a second target.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		Attempts: 6, Backoff: time.Second, now: time.Now,
	}
}

// Result is how a delivery ended.
type Result struct {
	Delivered bool
	Attempts  int
	Status    int    // the last answer's status; 0 when none came
	Error     string // why the last attempt failed, for the log
}

// Send posts body to target, signed with keys under id, retrying on 5xx,
// 429, timeouts and connection errors with exponential backoff, until
// Attempts or ctx run out. A 2xx delivers; any other answer is final.
func (s *Sender) Send(ctx context.Context, target string, keys [][]byte, id string, body []byte) Result {
	var r Result
	wait := s.Backoff
	for r.Attempts < s.Attempts {
		if r.Attempts > 0 {
			select {
			case <-ctx.Done():
				r.Error = "gave up: " + ctx.Err().Error()
				return r
			case <-time.After(wait):
			}
			wait *= 2
		}
		r.Attempts++
		retry := s.once(ctx, target, keys, id, body, &r)
		if r.Delivered || !retry {
			return r
		}
	}
	return r
}

func (s *Sender) once(ctx context.Context, target string, keys [][]byte, id string, body []byte, r *Result) (retry bool) {
	ts := s.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		r.Error = "bad request: " + err.Error()
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Pixashot-Webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", Sign(keys, id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		r.Status, r.Error = 0, err.Error()
		return !isRefusal(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer)) //nolint:errcheck // only drained
	resp.Body.Close()
	r.Status, r.Error = resp.StatusCode, ""
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		r.Delivered = true
		return false
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		r.Error = "answered " + strconv.Itoa(resp.StatusCode)
		return true
	}
	r.Error = "answered " + strconv.Itoa(resp.StatusCode)
	return false
}

// isRefusal is a dial the guard refused: retrying cannot change its answer.
func isRefusal(err error) bool { return errors.Is(err, egress.ErrRefused) }
