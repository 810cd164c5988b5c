package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "golang.org/x/image/webp"

	"github.com/pixashot/pixashot-cloudrun/internal/app"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/egress/egresstest"
	"github.com/pixashot/pixashot-cloudrun/internal/logging"
	"github.com/pixashot/pixashot-cloudrun/internal/logging/logtest"
)

// env is one running service with the servers its tests point it at.
type env struct {
	app        *app.App
	svc        *httptest.Server
	token      string
	signingKey string
	page       string // http://127.0.0.2:P, allowed by EGRESS_ALLOW_CIDRS
	tlsPage    string // https://127.0.0.2:T, self-signed
	port       int    // P; the secret server listens on 127.0.0.1:P
	marker     string // what the secret server answers; must appear in no output
	hookSecret string // WEBHOOK_SIGNING_KEY
	storageDir string // STORAGE_DIR, removed at close

	secretHits atomic.Int64
	logs       *logtest.Buffer
	dns        *egresstest.Resolver

	mu      sync.Mutex
	hits    map[string]int
	headers map[string]http.Header
	hooks   []hook   // webhooks the page server received at /hook
	watched sync.Map // /watched/{key}: the colour each watched page shows now
}

// hook is one webhook delivery as the receiver got it.
type hook struct {
	header http.Header
	body   []byte
}

var shared *env

func TestMain(m *testing.M) {
	if _, err := config.Load(func(string) string { return "" }); err != nil && strings.Contains(err.Error(), "CHROME_PATH") {
		fmt.Fprintln(os.Stderr, "e2e: no Chromium installed (apt-get install chromium-headless-shell):", err)
		os.Exit(1)
	}
	e, err := newEnv(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	shared = e
	code := m.Run()
	if code != 0 {
		// A failure's 5xx answers, with their causes, for the next reader.
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, `"capture failed"`) && (strings.Contains(line, `"status":50`)) {
				fmt.Fprintln(os.Stderr, "e2e service log:", line)
			}
		}
	}
	e.close()
	os.Exit(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnv starts the servers and a service; mod adjusts its configuration,
// opt its test-only parts.
func newEnv(mod func(*config.Config), opt ...func(*app.Options)) (*env, error) {
	e := &env{token: randomHex(32), signingKey: randomHex(32), marker: "SECRET-" + randomHex(8), logs: &logtest.Buffer{},
		hookSecret: "whsec_" + base64.StdEncoding.EncodeToString([]byte(randomHex(16))),
		hits:       map[string]int{}, headers: map[string]http.Header{}}
	pageLn, secretLn, err := egresstest.SamePortPair()
	if err != nil {
		return nil, err
	}
	e.port = pageLn.Addr().(*net.TCPAddr).Port
	e.page = "http://127.0.0.2:" + strconv.Itoa(e.port)
	go http.Serve(pageLn, e.pages())
	go http.Serve(secretLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.secretHits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		io.WriteString(w, e.marker)
	}))
	tlsLn, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return nil, err
	}
	ts := httptest.NewUnstartedServer(e.pages())
	ts.Listener.Close()
	ts.Listener = tlsLn
	ts.StartTLS()
	e.tlsPage = "https://127.0.0.2:" + strconv.Itoa(tlsLn.Addr().(*net.TCPAddr).Port)

	e.dns = egresstest.NewResolver(map[string][]string{
		"page.test":   {"127.0.0.2"},
		"secret.test": {"127.0.0.1"},
		"meta.test":   {"169.254.169.254"},
		"rebind.test": {"127.0.0.2", "127.0.0.1"},
		// Hosts the lists name (clean_test.go), served by the page server.
		"2leep.com":     {"127.0.0.2"},
		"00px.net":      {"127.0.0.2"},
		"embed.tawk.to": {"127.0.0.2"},
	})
	cfg, err := config.Load(func(k string) string {
		switch k {
		case "AUTH_TOKEN":
			return e.token
		case "EGRESS_ALLOW_CIDRS":
			return "127.0.0.2/32"
		case "EGRESS_ALLOW_PORTS":
			return strconv.Itoa(e.port) + "," + strconv.Itoa(tlsLn.Addr().(*net.TCPAddr).Port)
		case "CAPTURE_TIMEOUT":
			return "20s"
		case "RATE_LIMIT":
			return "0" // the suite is one busy client; TestRateLimit sets its own
		case "URL_SIGNING_KEY":
			return e.signingKey
		case "WEBHOOK_SIGNING_KEY":
			return e.hookSecret
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	if e.storageDir, err = os.MkdirTemp("", "pixashot-e2e-"); err != nil {
		return nil, err
	}
	cfg.StorageDir = e.storageDir
	// make test runs this suite as a non-root user with Chrome's sandbox on,
	// as production runs; only a root run (go test by hand) goes without it.
	cfg.NoSandbox = os.Geteuid() == 0
	cfg.ClientMaxConc = cfg.MaxConcurrency + cfg.QueueSize // the suite is one busy client: no share binds
	if mod != nil {
		mod(cfg)
	}
	// The production logger, so what tests read of the log is what Cloud Logging gets.
	log := logging.New(io.MultiWriter(e.logs, logSink()), slog.LevelInfo)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ao := app.Options{Logger: log, Resolver: e.dns}
	for _, o := range opt {
		o(&ao)
	}
	e.app, err = app.New(ctx, cfg, ao)
	if err != nil {
		return nil, err
	}
	e.svc = httptest.NewServer(e.app.Handler())
	return e, nil
}

// logSink shows the service's log only when asked (PIXASHOT_TEST_LOG=1).
func logSink() io.Writer {
	if os.Getenv("PIXASHOT_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

func (e *env) close() {
	e.svc.Close()
	e.app.Close()
	os.RemoveAll(e.storageDir)
}

func (e *env) hit(path string, h http.Header) {
	e.mu.Lock()
	e.hits[path]++
	e.headers[path] = h.Clone()
	e.mu.Unlock()
}

// hitFrom records a request with the address it came from as X-Test-Peer.
func (e *env) hitFrom(r *http.Request) {
	h := r.Header.Clone()
	peer, _, _ := net.SplitHostPort(r.RemoteAddr)
	h.Set("X-Test-Peer", peer)
	e.hit(r.URL.Path, h)
}

func (e *env) hitCount(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits[path]
}

func (e *env) lastHeaders(path string) http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.headers[path]
}

// result is one answer of the service.
type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) errorJSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body is not JSON: %q", r.status, r.body)
	}
	return m
}

// do sends a request to the service with the test token. It is safe from any
// goroutine: it reports with Errorf, never Fatal.
func (e *env) do(t *testing.T, method, path string, body any) result {
	t.Helper()
	return e.doWith(t, method, path, body, nil)
}

// doWith is do with more request headers.
func (e *env) doWith(t *testing.T, method, path string, body any, h http.Header) result {
	t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, e.svc.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return result{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if bytes.Contains(b, []byte(e.marker)) {
		t.Errorf("the secret server's marker reached a client")
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) capture(t *testing.T, opts map[string]any) result {
	t.Helper()
	return e.do(t, http.MethodPost, "/capture", opts)
}

// mustImage captures and decodes an image, failing on any other answer.
func (e *env) mustImage(t *testing.T, opts map[string]any) image.Image {
	t.Helper()
	r := e.capture(t, opts)
	if r.status != http.StatusOK {
		t.Fatalf("capture %v: %d %s", opts, r.status, r.body)
	}
	img, _, err := image.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

// rgb is the 8-bit colour at x, y.
func rgb(img image.Image, x, y int) [4]uint8 {
	r, g, b, a := img.At(x, y).RGBA()
	return [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

// near reports whether two colours are within a small distance (JPEG, WebP).
func near(c [4]uint8, r, g, b uint8) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(c[0], r) < 24 && d(c[1], g) < 24 && d(c[2], b) < 24
}
