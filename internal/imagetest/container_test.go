package imagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/config"
)

var (
	imageRef    = os.Getenv("PIXASHOT_IMAGE")
	runtimeName = os.Getenv("PIXASHOT_RUNTIME") // crun or runsc
	pages       *pageServer
	// The service's own bounds, as the image runs with its defaults.
	defaults *config.Config
)

// startBound is what Cloud Run's startup probe allows a new instance
// (terraform/: 4 periods of 60 s).
const startBound = 240 * time.Second

// stopGrace is Cloud Run's: SIGTERM, then SIGKILL 10 s later.
const stopGrace = 10

func TestMain(m *testing.M) {
	if imageRef == "" {
		fmt.Println("imagetest: PIXASHOT_IMAGE is unset; make image-test builds the image and runs these tests")
		os.Exit(0)
	}
	if runtimeName == "" {
		runtimeName = "crun"
	}
	var err error
	if defaults, err = config.Load(func(string) string { return "" }); err != nil && !strings.Contains(err.Error(), "CHROME_PATH") {
		fmt.Fprintln(os.Stderr, "imagetest:", err)
		os.Exit(1)
	}
	if pages, err = newPageServer(); err != nil {
		fmt.Fprintln(os.Stderr, "imagetest:", err)
		os.Exit(1)
	}
	code := m.Run()
	if sharedBox != nil {
		sharedBox.remove()
	}
	os.Exit(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// box is one running container of the image.
type box struct {
	t       *testing.T
	name    string
	token   string
	base    string    // http://127.0.0.1:PORT
	started time.Time // podman run
}

// boxOptions are what a test changes from Cloud Run's settings.
type boxOptions struct {
	env     map[string]string
	tmpSize string // the tmpfs /tmp size; Cloud Run's is the instance's memory
	seccomp string // a seccomp profile instead of the runtime's default
	noReady bool   // do not wait for readiness (a start that must fail)
}

func podman(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	out, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// run starts the image as Cloud Run gen2 does (see start) for one test.
func run(t *testing.T, o boxOptions) *box {
	t.Helper()
	b, err := start(o)
	if b != nil {
		b.t = t
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("container log (last lines):\n%s", b.tail(40))
			}
			b.remove()
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start runs the image as Cloud Run gen2 does: the image's user, a read-only
// root with a tmpfs /tmp, 2 GiB without swap, 2 CPUs, PORT from the
// environment, the runtime's default seccomp profile; host networking, as
// this machine has no bridge (the service's egress guard still decides what
// Chrome reaches). It waits for readiness unless o.noReady.
func start(o boxOptions) (*box, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b := &box{name: "pixashot-it-" + randomHex(4), token: randomHex(24), base: "http://127.0.0.1:" + strconv.Itoa(port)}
	if o.tmpSize == "" {
		o.tmpSize = "1g"
	}
	args := append([]string{"run", "-d", "--name", b.name}, runtimeArgs()...)
	args = append(args, "--read-only", "--tmpfs", "/tmp:rw,mode=1777,size="+o.tmpSize,
		"--memory", "2g", "--memory-swap", "2g", "--cpus", "2")
	if o.seccomp != "" {
		args = append(args, "--security-opt", "seccomp="+o.seccomp)
	}
	env := map[string]string{"PORT": strconv.Itoa(port), "AUTH_TOKEN": b.token,
		"EGRESS_ALLOW_CIDRS": "127.0.0.2/32", "EGRESS_ALLOW_PORTS": strconv.Itoa(pages.port), "RATE_LIMIT": "0"}
	for k, v := range o.env {
		env[k] = v
	}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	b.started = time.Now()
	if out, err := podman(append(args, imageRef)...); err != nil {
		return nil, fmt.Errorf("podman run: %v: %s", err, out)
	}
	if o.noReady {
		return b, nil
	}
	return b, b.waitReady()
}

// runtimeArgs choose the runtime, with the host's network: this machine has
// no bridge, and gVisor must be told to use the host's stack.
func runtimeArgs() []string {
	args := []string{"--runtime", runtimeName, "--network", "host"}
	if runtimeName == "runsc" {
		args = append(args, "--runtime-flag", "network=host")
	}
	return args
}

func (b *box) remove() { podman("rm", "-f", "-t", "0", b.name) } //nolint:errcheck // best effort

func (b *box) tail(n int) string {
	out, _ := podman("logs", "--tail", strconv.Itoa(n), b.name)
	return out
}

func (b *box) waitReady() error {
	deadline := time.Now().Add(startBound)
	for time.Now().Before(deadline) {
		if r, err := http.Get(b.base + "/health/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		if !b.running() {
			return fmt.Errorf("the container exited before it was ready:\n%s", b.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v", startBound)
}

func (b *box) running() bool {
	out, _ := podman("inspect", "--format", "{{.State.Running}}", b.name)
	return out == "true"
}

func (b *box) logs() string {
	out, _ := podman("logs", b.name)
	return out
}

// exec runs a command in the container as its user.
func (b *box) exec(cmd string) (string, error) {
	return podman("exec", b.name, "sh", "-c", cmd)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %.300s", r.status, r.body) }

// call sends one request with the box's token; its bound is the service's
// capture timeout plus its queue wait, with room for a busy machine.
func (b *box) call(method, path string, body any) reply {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: defaults.CaptureTimeout + defaults.QueueWait + 30*time.Second}
	res, err := c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, data}
}

// pageServer serves the test pages on 127.0.0.2, which the container
// reaches over the host's loopback.
type pageServer struct {
	port int
	base string

	mu    sync.Mutex
	hits  map[string]int
	hooks []http.Header
	slow  chan struct{} // one value per /slow request that arrived
}

func (p *pageServer) hit(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[key]
}

func newPageServer() (*pageServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return nil, err
	}
	p := &pageServer{port: ln.Addr().(*net.TCPAddr).Port, hits: map[string]int{}, slow: make(chan struct{}, 64)}
	p.base = "http://127.0.0.2:" + strconv.Itoa(p.port)
	mux := http.NewServeMux()
	html := func(w http.ResponseWriter, s string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, s)
	}
	mux.HandleFunc("/color", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<html><body style="margin:0;background:#`+r.URL.Query().Get("c")+`"></body></html>`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		p.slow <- struct{}{}
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		html(w, `<html><body style="margin:0;background:#00ff00"></body></html>`)
	})
	mux.HandleFunc("/hit/", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits[r.URL.Path]++
		p.mu.Unlock()
	})
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // the body is not checked here
		p.mu.Lock()
		p.hooks = append(p.hooks, r.Header.Clone())
		p.mu.Unlock()
	})
	for path, page := range testPages {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			html(w, strings.ReplaceAll(page, "{t}", r.URL.Query().Get("t")))
		})
	}
	go http.Serve(ln, mux) //nolint:errcheck // lives as long as the tests
	return p, nil
}

// testPages are served as they are, with {t} replaced by the query's t.
var testPages = map[string]string{
	// Each glyph in a cell of its own: 世 and 界 must differ from each other
	// and from a code point no font has (what a missing CJK font draws), and
	// the emoji must be in colour.
	"/fonts": `<!doctype html><meta charset="utf-8"><style>
		body{margin:0;background:#fff;color:#000}
		.c{display:inline-block;width:80px;height:80px;font-size:56px;line-height:80px;text-align:center;overflow:hidden;vertical-align:top}
		p{margin:0;height:60px;font-size:40px;line-height:60px;white-space:nowrap}
	</style><div style="height:80px;white-space:nowrap"><span class="c">世</span><span class="c">界</span><span class="c">🎉</span><span class="c">&#x10FFFD;</span><span class="c">H</span></div>
	<p>Hello 世界 🎉</p>`,
	// An element EasyList hides by its class (block_ads).
	"/ads": `<!doctype html><html><body style="margin:0;background:#fff">
		<div class="ADBAR" style="height:300px;background:#ff0000">ad</div></body></html>`,
	// A WordPress cookie plugin's dialog that autoconsent answers with
	// reject (block_cookie_banners); reject is recorded.
	"/cmp": `<!doctype html><html><body style="margin:0;background:#fff">
		<div id="gdpr-cookie-consent-bar" style="position:fixed;left:0;top:0;width:100%;height:400px;background:#ff0000">
		We use cookies. <a id="cookie_action_accept" href="#">Accept</a>
		<a id="cookie_action_reject" href="#" onclick="fetch('/hit/{t}/reject'); document.getElementById('gdpr-cookie-consent-bar').style.display='none'; return false">Reject</a>
		</div></body></html>`,
}
