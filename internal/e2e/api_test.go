package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/pixashot/pixashot-cloudrun/internal/openapi/client"
)

// The three ways in (issue 19), against the real service: the client
// generated from the OpenAPI document, the CLI, and the playground page.

func decodeImage(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not an image (%d bytes): %v: %.200s", len(b), err, b)
	}
	return img
}

func TestServedDocumentIsValid(t *testing.T) {
	resp, err := http.Get(shared.svc.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("GET /openapi.json: %v (openapi %s)", err, doc.OpenAPI)
	}
	// This deployment's CAPTURE_TIMEOUT (20 s) bounds wait_for_timeout.
	if m := doc.Components.Schemas["CaptureOptions"].Value.Properties["wait_for_timeout"].Value.Max; m == nil || *m != 20000 {
		t.Errorf("wait_for_timeout maximum %v, want this deployment's 20000", m)
	}
}

func TestGeneratedClientCaptures(t *testing.T) {
	e := shared
	auth := client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+e.token)
		return nil
	})
	api, err := client.NewClientWithResponses(e.svc.URL, auth)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	url, w, h := e.page+"/color?c=00ff00", 640, 360
	format := client.CaptureOptionsFormatPng
	resp, err := api.CaptureWithResponse(ctx, client.CaptureOptions{Url: &url, WindowWidth: &w, WindowHeight: &h, Format: &format})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 || resp.HTTPResponse.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("capture: %d %s", resp.StatusCode(), resp.Body)
	}
	img := decodeImage(t, resp.Body)
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h || !near(rgb(img, 10, 10), 0, 255, 0) {
		t.Errorf("image %v, colour %v", b, rgb(img, 10, 10))
	}
	// response_type url: the typed Link.
	rt := client.CaptureOptionsResponseTypeUrl
	resp, err = api.CaptureWithResponse(ctx, client.CaptureOptions{Url: &url, ResponseType: &rt})
	if err != nil || resp.JSON201 == nil || resp.JSON201.Bytes == 0 || !strings.HasPrefix(resp.JSON201.Url, "http") {
		t.Fatalf("response_type url: %v %d %s", err, resp.StatusCode(), resp.Body)
	}
	// An error answer, decoded into the document's Error.
	zero := 0
	resp, err = api.CaptureWithResponse(ctx, client.CaptureOptions{Url: &url, WindowWidth: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.JSON400; e == nil || e.ErrorType != client.ErrorErrorTypeValidationError || e.Field == nil || *e.Field != "window_width" || e.Status != "error" {
		t.Errorf("window_width 0: %d %s", resp.StatusCode(), resp.Body)
	}
	anon, _ := client.NewClientWithResponses(e.svc.URL)
	resp, err = anon.CaptureWithResponse(ctx, client.CaptureOptions{Url: &url})
	if err != nil || resp.JSON401 == nil || resp.JSON401.ErrorType != client.ErrorErrorTypeAuthenticationError {
		t.Errorf("no token: %v %d %s", err, resp.StatusCode(), resp.Body)
	}
}

// buildCLI builds bin/pixashot once, for the CLI tests.
var buildCLI = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(os.TempDir(), "pixashot-cli-"+randomHex(4))
	out, err := exec.Command("go", "build", "-o", bin, "../../function/cmd/pixashot").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type run struct {
	code           int
	stdout, stderr string
}

func (e *env) cli(t *testing.T, dir, stdin string, token string, args ...string) run {
	t.Helper()
	bin, err := buildCLI()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PIXASHOT_URL="+e.svc.URL, "PIXASHOT_TOKEN="+token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { <-ctx.Done(); cmd.Process.Kill() }() //nolint:errcheck // best effort
	err = cmd.Run()
	r := run{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCLI(t *testing.T) {
	e := shared
	dir := t.TempDir()
	t.Cleanup(func() {
		if bin, err := buildCLI(); err == nil {
			os.Remove(bin)
		}
	})

	// The README's line: flags before and after the URL, output by name.
	r := e.cli(t, dir, "", e.token, "capture", "--window-width", "800", e.page+"/color?c=0000ff", "--window-height", "600", "-o", "blue.png")
	if r.code != 0 {
		t.Fatalf("capture: exit %d: %s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "blue.png"))
	if img := decodeImage(t, b); img.Bounds().Dx() != 800 || img.Bounds().Dy() != 600 || !near(rgb(img, 5, 5), 0, 0, 255) {
		t.Errorf("blue.png: %v %v", img.Bounds(), rgb(img, 5, 5))
	}
	// pixashot diff: the same page against it, then another past the ratio.
	r = e.cli(t, dir, "", e.token, "diff", "--baseline-file", "blue.png", "--window-width", "800", "--window-height", "600", e.page+"/color?c=0000ff")
	var d struct {
		Pixels int     `json:"mismatch_pixels"`
		Ratio  float64 `json:"mismatch_ratio"`
		URL    string
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); r.code != 0 || err != nil || d.Pixels != 0 || d.URL == "" {
		t.Errorf("diff, the same page: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = e.cli(t, dir, "", e.token, "diff", "--baseline-file", "blue.png", "--window-width", "800", "--window-height", "600",
		"--fail-on-diff-ratio", "0.5", "-o", "red.png", e.page+"/color?c=ff0000")
	if err := json.Unmarshal([]byte(r.stdout), &d); r.code != 11 || err != nil || d.Ratio != 1 || !strings.Contains(r.stderr, "DiffExceeded") {
		t.Errorf("diff past the ratio: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// pixashot monitor: create (capture flags are the options), list, get, delete.
	r = e.cli(t, dir, "", e.token, "monitor", "create", "--schedule", "*/20 * * * *", "--threshold", "0.2",
		"--webhook-url", e.page+"/hook", "--window-width", "320", e.page+"/color?c=00ff00")
	var m struct {
		ID        string
		Threshold float64
		Options   map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); r.code != 0 || err != nil || m.ID == "" || m.Threshold != 0.2 || m.Options["window_width"] != 320.0 {
		t.Fatalf("monitor create: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r = e.cli(t, dir, "", e.token, "monitor", "list"); r.code != 0 || !strings.Contains(r.stdout, m.ID) {
		t.Errorf("monitor list: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r = e.cli(t, dir, "", e.token, "monitor", "get", m.ID); r.code != 0 || !strings.Contains(r.stdout, `"schedule": "*/20 * * * *"`) {
		t.Errorf("monitor get: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r = e.cli(t, dir, "", e.token, "monitor", "delete", m.ID); r.code != 0 {
		t.Errorf("monitor delete: exit %d %s", r.code, r.stderr)
	}
	if r = e.cli(t, dir, "", e.token, "monitor", "get", m.ID); r.code != 5 || !strings.Contains(r.stderr, "NotFound: no such monitor") {
		t.Errorf("monitor get after delete: exit %d %s", r.code, r.stderr)
	}
	if r = e.cli(t, dir, "", e.token, "monitor", "create", "--schedule", "* * * * *", e.page); r.code != 3 || !strings.Contains(r.stderr, "5m0s apart") {
		t.Errorf("monitor create every minute: exit %d %s", r.code, r.stderr)
	}
	if r = e.cli(t, dir, "", e.token, "monitor", "create", e.page); r.code != 2 || !strings.Contains(r.stderr, "--schedule") {
		t.Errorf("monitor create without a schedule: exit %d %s", r.code, r.stderr)
	}
	// The default name follows the format; JSON options reach the request.
	r = e.cli(t, dir, "", e.token, "capture", "--format", "pdf", "--options", `{"pdf_margin":{"top":"1cm"}}`, e.page+"/color?c=ffffff")
	if b, _ := os.ReadFile(filepath.Join(dir, "screenshot.pdf")); r.code != 0 || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("pdf: exit %d %s, %d bytes", r.code, r.stderr, len(b))
	}
	// The agents' formats, as README shows: links to screenshot.json.
	r = e.cli(t, dir, "", e.token, "capture", "--format", "links", e.page+"/links")
	if b, _ := os.ReadFile(filepath.Join(dir, "screenshot.json")); r.code != 0 || !bytes.Contains(b, []byte(`"rel":"next"`)) {
		t.Errorf("--format links: exit %d %s, %.200s", r.code, r.stderr, b)
	}
	// --async: queued, watched, downloaded; a failure is its own exit code.
	r = e.cli(t, dir, "", e.token, "capture", "--async", "--window-width", "300", "--window-height", "150", e.page+"/color?c=00ff00", "-o", "async.png")
	b, _ = os.ReadFile(filepath.Join(dir, "async.png"))
	if r.code != 0 || !strings.Contains(r.stderr, " done") {
		t.Errorf("--async: exit %d: %s", r.code, r.stderr)
	} else if img := decodeImage(t, b); img.Bounds().Dx() != 300 || !near(rgb(img, 5, 5), 0, 255, 0) {
		t.Errorf("--async image: %v", img.Bounds())
	}
	r = e.cli(t, dir, "", e.token, "capture", "--async", "--fail-on-http-status", "404", e.page+"/clean/status/404")
	if r.code != 8 || !strings.Contains(r.stderr, "TargetStatusError") {
		t.Errorf("--async failing: exit %d: %s", r.code, r.stderr)
	}
	// --html FILE, as README shows.
	os.WriteFile(filepath.Join(dir, "invoice.html"), []byte(`<h1>Invoice</h1>`), 0o600) //nolint:errcheck // read by the command
	r = e.cli(t, dir, "", e.token, "capture", "--html", "invoice.html", "--format", "pdf", "-o", "invoice.pdf")
	if b, _ := os.ReadFile(filepath.Join(dir, "invoice.pdf")); r.code != 0 || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("--html: exit %d %s", r.code, r.stderr)
	}
	// HTML from stdin, the capture to stdout.
	r = e.cli(t, dir, `<html><body><h1 id="x">from stdin</h1></body></html>`, e.token, "capture", "--format", "html", "-o", "-", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "from stdin") {
		t.Errorf("stdin: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	// Each error type is its own exit code and a clear message.
	for _, c := range []struct {
		name  string
		token string
		args  []string
		code  int
		msg   string
	}{
		{"usage", e.token, []string{"capture"}, 2, "what to capture"},
		{"bad flag", e.token, []string{"capture", "--window-width", "wide", e.page}, 2, "invalid value"},
		{"validation", e.token, []string{"capture", "ftp://example.com/"}, 3, "ValidationError: url must be an http or https URL"},
		{"unknown option", e.token, []string{"capture", "--options", `{"colour":"red"}`, e.page}, 3, "ValidationError: colour is not a known option"},
		{"no token", "", []string{"capture", e.page}, 4, "AuthenticationError"},
		{"target", e.token, []string{"capture", "--fail-on-http-status", "404", e.page + "/clean/status/404"}, 8, "TargetStatusError"},
		{"refused", e.token, []string{"capture", "http://secret.test:" + strconv.Itoa(e.port) + "/"}, 8, "NavigationError"},
	} {
		r := e.cli(t, dir, "", c.token, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, r.code, r.stderr, c.code, c.msg)
		}
		if strings.Contains(r.stderr, "goroutine ") || (c.token != "" && strings.Contains(r.stderr, c.token)) {
			t.Errorf("%s: stderr shows a stack or the token: %s", c.name, r.stderr)
		}
	}
	if e.secretHits.Load() != 0 {
		t.Error("the secret server was reached")
	}

	// sign prints a URL that captures without a token.
	r = e.cli(t, dir, "", e.token, "sign", "--window-width", "300", "--window-height", "200", e.page+"/color?c=ff0000")
	if r.code != 0 || !strings.Contains(r.stdout, "signature=") {
		t.Fatalf("sign: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	resp, err := http.Get(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	if img := decodeImage(t, b); resp.StatusCode != 200 || img.Bounds().Dx() != 300 || !near(rgb(img, 5, 5), 255, 0, 0) {
		t.Errorf("signed URL: %d %v", resp.StatusCode, img.Bounds())
	}
}
