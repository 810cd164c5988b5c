// Package cli is `pixashot capture`, `sign`, `diff` and `monitor`: the service's API
// from a shell, through the client generated from its OpenAPI document. The
// flags are the capture options, read off the option parser's description.
package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pixashot/pixashot-cloudrun/internal/openapi/client"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// Exit codes: one per kind of failure, so scripts can tell a bad request
// from a page that failed from a service that is busy.
const (
	exitOK          = 0
	exitOther       = 1  // transport errors, unexpected answers
	exitUsage       = 2  // the command line itself
	exitInvalid     = 3  // ValidationError, PayloadTooLarge
	exitAuth        = 4  // AuthenticationError, InvalidSignatureError, SignatureExpiredError
	exitNotFound    = 5  // NotFound, MethodNotAllowed
	exitBusy        = 6  // RateLimitError, Overloaded, Conflict: retry later
	exitTimeout     = 7  // CaptureTimeout
	exitTarget      = 8  // NavigationError, TargetStatusError: the page failed
	exitUnavailable = 9  // FeatureUnavailable
	exitInternal    = 10 // InternalError
	exitDiff        = 11 // DiffExceeded: the page changed past fail_on_diff_ratio
	exitProxy       = 12 // ProxyError: the proxy refused or failed
)

var exitCodes = map[client.ErrorErrorType]int{
	"ValidationError": exitInvalid, "PayloadTooLarge": exitInvalid,
	"AuthenticationError": exitAuth, "InvalidSignatureError": exitAuth, "SignatureExpiredError": exitAuth,
	"NotFound": exitNotFound, "MethodNotAllowed": exitNotFound,
	"RateLimitError": exitBusy, "Overloaded": exitBusy, "Conflict": exitBusy,
	"CaptureTimeout":  exitTimeout,
	"NavigationError": exitTarget, "TargetStatusError": exitTarget,
	"FeatureUnavailable": exitUnavailable,
	"InternalError":      exitInternal,
	"DiffExceeded":       exitDiff,
	"ProxyError":         exitProxy,
}

const usage = `usage:
  pixashot capture [flags] URL|-     capture a page (- reads HTML from stdin; or --html FILE)
  pixashot sign [flags] URL          print a signed GET /capture URL (no token needed to use it)
  pixashot diff [flags] URL|-        capture and compare with --baseline-file FILE or --compare-to ID:
                                     print the diff as JSON, save the capture (-o), exit 11 past
                                     --fail-on-diff-ratio
  pixashot monitor create --schedule CRON [flags] URL
                                     watch a page: each run compares with the last and calls
                                     --webhook-url past --threshold; prints the monitor as JSON
  pixashot monitor list|get ID|delete ID
                                     the client's monitors, one with its last runs, or stop one
The service is PIXASHOT_URL (default http://localhost:8080), the token PIXASHOT_TOKEN.
Every scalar capture option is a flag (--window-width 1280 --full-page --format pdf); the rest
go in --options '{"cookies":[...]}'. pixashot capture -h lists them.`

// Main runs a subcommand and returns the exit code.
func Main(ctx context.Context, cmd string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &command{name: cmd, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	code, err := c.run(ctx, args)
	if err != nil {
		fmt.Fprintln(stderr, "pixashot "+cmd+": "+err.Error())
	}
	return code
}

type command struct {
	name           string
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer

	fs       *flag.FlagSet
	set      map[string]any // the option flags given
	server   string
	token    string
	output   string
	htmlFile string
	raw      string
	expires  int
	timeout  time.Duration
	async    bool
	poll     time.Duration
	baseline string // diff: an image file to compare with
	// monitor create
	schedule, timeZone, webhook string
	threshold                   float64
}

func (c *command) flags() {
	c.fs = flag.NewFlagSet("pixashot "+c.name, flag.ContinueOnError)
	c.fs.SetOutput(c.stderr)
	c.set = map[string]any{}
	c.fs.StringVar(&c.server, "server", "", "the service (default: PIXASHOT_URL, else http://localhost:8080)")
	// Never the token as a default: the help would print it.
	c.fs.StringVar(&c.token, "token", "", "a client token (default: PIXASHOT_TOKEN)")
	c.fs.StringVar(&c.htmlFile, "html", "", "capture this HTML file instead of a URL (- for stdin)")
	c.fs.StringVar(&c.raw, "options", "", "more options as a JSON object; flags override it")
	c.fs.DurationVar(&c.timeout, "timeout", 2*time.Minute, "give up after this long")
	switch c.name {
	case "capture":
		c.fs.StringVar(&c.output, "o", "", "write the capture here (- for stdout; default screenshot.<format>)")
		c.fs.BoolVar(&c.async, "async", false, "queue it (POST /captures) and wait for it to end, showing its state")
		c.poll = 500 * time.Millisecond
	case "diff":
		c.fs.StringVar(&c.output, "o", "", "write the capture here (default: not written)")
		c.fs.StringVar(&c.baseline, "baseline-file", "", "the image (PNG, JPEG or WebP) to compare with")
	case "monitor":
		c.fs.StringVar(&c.schedule, "schedule", "", "create: a five-field cron expression (minute hour day month weekday)")
		c.fs.StringVar(&c.timeZone, "time-zone", "", "create: the schedule's IANA time zone (default UTC)")
		c.fs.StringVar(&c.webhook, "webhook-url", "", "create: where monitor.changed and monitor.failed go, signed")
		c.fs.Float64Var(&c.threshold, "threshold", -1, "create: the share of changed pixels that is news (service default 0.01)")
	default:
		c.fs.IntVar(&c.expires, "expires-in", 3600, "seconds the URL stays valid (at most 86400)")
	}
	for _, f := range options.Fields(options.Limits{MaxTimeout: time.Minute}) {
		if f.Name == "url" || f.Name == "html_content" || f.Type == "object" || f.Type == "array" {
			continue
		}
		c.fs.Var(&optionFlag{f: f, set: c.set}, strings.ReplaceAll(f.Name, "_", "-"), help(f))
	}
	c.fs.Usage = func() { fmt.Fprintf(c.stderr, "pixashot %s -h lists the flags\n", c.name) }
}

func help(f options.Field) string {
	h := f.Description
	if f.Enum != nil {
		h += " One of " + strings.Join(f.Enum, ", ") + "."
	}
	if f.Default != nil {
		h += fmt.Sprintf(" Service default: %v.", f.Default)
	}
	return h
}

// optionFlag is one capture option; only the flags given reach the request.
type optionFlag struct {
	f   options.Field
	set map[string]any
}

func (o *optionFlag) String() string { return "" }

func (o *optionFlag) IsBoolFlag() bool { return o.f.Type == "boolean" }

func (o *optionFlag) Set(s string) error {
	var v any
	var err error
	switch o.f.Type {
	case "boolean":
		v, err = strconv.ParseBool(s)
	case "integer":
		v, err = strconv.Atoi(s)
	case "number":
		v, err = strconv.ParseFloat(s, 64)
	default:
		v = s
	}
	if err != nil {
		return fmt.Errorf("must be %s", map[string]string{"boolean": "true or false", "integer": "an integer", "number": "a number"}[o.f.Type])
	}
	o.set[o.f.Name] = v
	return nil
}

// parse reads flags before and after the positional arguments.
func (c *command) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, err
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func (c *command) run(ctx context.Context, args []string) (int, error) {
	c.flags()
	pos, err := c.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(c.stderr, usage)
		c.fs.PrintDefaults()
		return exitOK, nil
	}
	if err != nil {
		return exitUsage, nil // flag has said why
	}
	c.server = cmp.Or(c.server, c.getenv("PIXASHOT_URL"), "http://localhost:8080")
	c.token = cmp.Or(c.token, c.getenv("PIXASHOT_TOKEN"))
	action := ""
	if c.name == "monitor" {
		if len(pos) == 0 {
			return exitUsage, usageError{"monitor create, list, get or delete\n" + usage}
		}
		action, pos = pos[0], pos[1:]
	}
	var body map[string]any
	if action == "" || action == "create" {
		if body, err = c.body(pos); err != nil {
			return exitUsage, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	api, err := client.NewClientWithResponses(c.server, client.WithHTTPClient(&http.Client{}),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			if c.token != "" {
				r.Header.Set("Authorization", "Bearer "+c.token)
			}
			return nil
		}))
	if err != nil {
		return exitUsage, fmt.Errorf("--server: %w", err)
	}
	switch {
	case c.name == "monitor":
		return c.monitor(ctx, api, action, pos, body)
	case c.name == "sign":
		return c.sign(ctx, api, body)
	case c.name == "diff":
		return c.diff(ctx, api, body)
	case c.async:
		return c.captureAsync(ctx, api, body)
	}
	return c.capture(ctx, api, body)
}

// body is the request: --options, then the flags, then the target.
func (c *command) body(pos []string) (map[string]any, error) {
	body := map[string]any{}
	if c.raw != "" {
		dec := json.NewDecoder(strings.NewReader(c.raw))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return nil, usageError{"--options must be a JSON object: " + err.Error()}
		}
	}
	for k, v := range c.set {
		body[k] = v
	}
	switch {
	case c.htmlFile != "" && len(pos) > 0, len(pos) > 1:
		return nil, usageError{"give one URL, - or --html FILE\n" + usage}
	case c.htmlFile != "":
		html, err := c.read(c.htmlFile)
		if err != nil {
			return nil, err
		}
		body["html_content"] = html
	case len(pos) == 1 && pos[0] == "-":
		html, err := c.read("-")
		if err != nil {
			return nil, err
		}
		body["html_content"] = html
	case len(pos) == 1:
		body["url"] = pos[0]
	case body["url"] == nil && body["html_content"] == nil:
		return nil, usageError{"what to capture: a URL, - or --html FILE\n" + usage}
	}
	return body, nil
}

// maxHTML bounds what is read for html_content (the service's body limit).
const maxHTML = 10 << 20

func (c *command) read(name string) (string, error) {
	r := c.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return "", usageError{"--html: " + err.Error()}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxHTML+1))
	switch {
	case err != nil:
		return "", usageError{"reading HTML: " + err.Error()}
	case len(b) > maxHTML:
		return "", usageError{"the HTML is larger than 10 MiB"}
	}
	return string(b), nil
}

func (c *command) capture(ctx context.Context, api *client.ClientWithResponses, body map[string]any) (int, error) {
	b, _ := json.Marshal(body) // decoded JSON and flag values: cannot fail
	resp, err := api.CaptureWithBodyWithResponse(ctx, "application/json", bytes.NewReader(b))
	if err != nil {
		return exitOther, err
	}
	h := resp.HTTPResponse.Header
	switch resp.StatusCode() {
	case http.StatusOK:
		name := c.output
		if name == "" {
			name = downloadName(h.Get("Content-Disposition"), body)
		}
		if err := c.write(name, resp.Body); err != nil {
			return exitOther, err
		}
		if name != "-" {
			fmt.Fprintf(c.stderr, "%s: %d bytes, %s (capture %s)\n", name, len(resp.Body), h.Get("Content-Type"), h.Get("X-Capture-Id"))
		}
		return exitOK, nil
	case http.StatusCreated:
		fmt.Fprintf(c.stdout, "%s\n", resp.JSON201.Url)
		fmt.Fprintf(c.stderr, "stored as %s (%d bytes), the link expires at %s\n", resp.JSON201.Id, resp.JSON201.Bytes, resp.JSON201.ExpiresAt.Format(time.RFC3339))
		return exitOK, nil
	case http.StatusNoContent:
		return exitOK, nil
	}
	return failure(resp.StatusCode(), h.Get("Content-Type"), resp.Body)
}

// diff captures with compare_to or baseline and prints the comparison;
// the capture itself is written only with -o.
func (c *command) diff(ctx context.Context, api *client.ClientWithResponses, body map[string]any) (int, error) {
	if c.baseline != "" {
		img, err := os.ReadFile(c.baseline)
		if err != nil {
			return exitUsage, usageError{"--baseline-file: " + err.Error()}
		}
		body["baseline"] = base64.StdEncoding.EncodeToString(img)
	}
	if body["baseline"] == nil && body["compare_to"] == nil {
		return exitUsage, usageError{"what to compare with: --baseline-file FILE or --compare-to ID\n" + usage}
	}
	body["response_type"] = "json"
	b, _ := json.Marshal(body)
	resp, err := api.CaptureWithBodyWithResponse(ctx, "application/json", bytes.NewReader(b))
	if err != nil {
		return exitOther, err
	}
	// The capture's answer and a DiffExceeded error both carry diff.
	var out struct {
		File []byte          `json:"file"`
		Diff json.RawMessage `json:"diff"`
	}
	if json.Unmarshal(resp.Body, &out) == nil && out.Diff != nil {
		fmt.Fprintf(c.stdout, "%s\n", out.Diff)
	}
	switch {
	case resp.StatusCode() != http.StatusOK:
		return failure(resp.StatusCode(), resp.HTTPResponse.Header.Get("Content-Type"), resp.Body)
	case out.Diff == nil:
		return exitOther, errors.New("the service answered without a diff")
	}
	if c.output != "" {
		if err := c.write(c.output, out.File); err != nil {
			return exitOther, err
		}
	}
	return exitOK, nil
}

// captureAsync queues the capture, shows its state until it ends, then
// downloads it like a synchronous one.
func (c *command) captureAsync(ctx context.Context, api *client.ClientWithResponses, body map[string]any) (int, error) {
	b, _ := json.Marshal(body)
	resp, err := api.CaptureAsyncWithBodyWithResponse(ctx, &client.CaptureAsyncParams{}, "application/json", bytes.NewReader(b))
	if err != nil {
		return exitOther, err
	}
	if resp.StatusCode() != http.StatusAccepted {
		return failure(resp.StatusCode(), resp.HTTPResponse.Header.Get("Content-Type"), resp.Body)
	}
	var queued client.Queued
	if err := json.Unmarshal(resp.Body, &queued); err != nil || queued.Id == "" {
		return exitOther, errors.New("the service's answer has no capture id")
	}
	spin := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	for i := 0; ; i++ {
		st, err := api.GetStoredCaptureWithResponse(ctx, queued.Id)
		if err != nil {
			return exitOther, err
		}
		if st.JSON200 == nil {
			return failure(st.StatusCode(), st.HTTPResponse.Header.Get("Content-Type"), st.Body)
		}
		j := st.JSON200
		fmt.Fprintf(c.stderr, "\r%s %s %s ", spin[i%len(spin)], j.Id, j.Status)
		switch j.Status {
		case client.JobStatusDone:
			fmt.Fprintln(c.stderr)
			return c.download(ctx, j, body)
		case client.JobStatusFailed:
			fmt.Fprintln(c.stderr)
			e := client.Error{ErrorType: client.ErrorErrorType(deref(j.ErrorType)), Message: deref(j.Message)}
			eb, _ := json.Marshal(e)
			return failure(0, "application/json", eb)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.stderr)
			return exitTimeout, fmt.Errorf("gave up after --timeout; the capture %s goes on (GET /captures/%s)", j.Id, j.Id)
		case <-time.After(c.poll):
		}
	}
}

func deref[T ~string](p *T) T {
	if p == nil {
		return ""
	}
	return *p
}

// download fetches a done capture's URL (no token: the URL is the credential).
func (c *command) download(ctx context.Context, j *client.Job, body map[string]any) (int, error) {
	if j.Url == nil {
		return exitOther, errors.New("the capture is done but has no download URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *j.Url, nil)
	if err != nil {
		return exitOther, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return exitOther, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil || resp.StatusCode != http.StatusOK {
		return exitOther, fmt.Errorf("downloading the capture: %d %v", resp.StatusCode, err)
	}
	name := c.output
	if name == "" {
		name = downloadName(resp.Header.Get("Content-Disposition"), body)
	}
	if err := c.write(name, data); err != nil {
		return exitOther, err
	}
	if name != "-" {
		fmt.Fprintf(c.stderr, "%s: %d bytes, %s (capture %s)\n", name, len(data), resp.Header.Get("Content-Type"), j.Id)
	}
	return exitOK, nil
}

func (c *command) sign(ctx context.Context, api *client.ClientWithResponses, body map[string]any) (int, error) {
	b, _ := json.Marshal(map[string]any{"params": body, "expires_in": c.expires})
	resp, err := api.SignWithBodyWithResponse(ctx, "application/json", bytes.NewReader(b))
	if err != nil {
		return exitOther, err
	}
	if resp.JSON200 == nil {
		return failure(resp.StatusCode(), resp.HTTPResponse.Header.Get("Content-Type"), resp.Body)
	}
	fmt.Fprintln(c.stdout, resp.JSON200.Url)
	fmt.Fprintf(c.stderr, "valid until %s\n", resp.JSON200.ExpiresAt.Format(time.RFC3339))
	return exitOK, nil
}

// monitor creates, lists, reads or deletes monitors; answers print as JSON.
func (c *command) monitor(ctx context.Context, api *client.ClientWithResponses, action string, pos []string, body map[string]any) (int, error) {
	var call func() (*http.Response, error)
	switch action {
	case "create":
		if c.schedule == "" {
			return exitUsage, usageError{"monitor create needs --schedule, such as \"0 * * * *\" (hourly)"}
		}
		spec := map[string]any{"options": body, "schedule": c.schedule}
		for k, v := range map[string]string{"time_zone": c.timeZone, "webhook_url": c.webhook} {
			if v != "" {
				spec[k] = v
			}
		}
		if c.threshold >= 0 {
			spec["threshold"] = c.threshold
		}
		b, _ := json.Marshal(spec) // decoded JSON and flag values: cannot fail
		call = func() (*http.Response, error) {
			return api.CreateMonitorWithBody(ctx, "application/json", bytes.NewReader(b))
		}
	case "list":
		call = func() (*http.Response, error) { return api.ListMonitors(ctx) }
	case "get", "delete":
		if len(pos) != 1 {
			return exitUsage, usageError{"monitor " + action + " takes one monitor id"}
		}
		call = func() (*http.Response, error) { return api.GetMonitor(ctx, pos[0]) }
		if action == "delete" {
			call = func() (*http.Response, error) { return api.DeleteMonitor(ctx, pos[0]) }
		}
	default:
		return exitUsage, usageError{"monitor create, list, get or delete, not " + action}
	}
	resp, err := call()
	if err != nil {
		return exitOther, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20)) // 100 monitors of 20 runs fit many times over
	switch {
	case err != nil:
		return exitOther, err
	case resp.StatusCode >= 300:
		return failure(resp.StatusCode, resp.Header.Get("Content-Type"), answer)
	case resp.StatusCode == http.StatusNoContent:
		fmt.Fprintln(c.stderr, "deleted")
		return exitOK, nil
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, answer, "", "  ") != nil {
		return exitOther, errors.New("the service's answer is not JSON")
	}
	fmt.Fprintln(c.stdout, pretty.String())
	return exitOK, nil
}

// failure turns an error answer into its message and exit code.
func failure(status int, contentType string, body []byte) (int, error) {
	var e client.Error
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" || json.Unmarshal(body, &e) != nil || e.ErrorType == "" {
		return exitOther, fmt.Errorf("the service answered %d %s", status, http.StatusText(status))
	}
	msg := string(e.ErrorType) + ": " + e.Message
	if e.RetryAfter != nil {
		msg += fmt.Sprintf(" (retry after %d s)", *e.RetryAfter)
	}
	code, ok := exitCodes[e.ErrorType]
	if !ok {
		code = exitOther
	}
	return code, errors.New(msg)
}

// downloadName is the service's file name, else screenshot.<format>.
func downloadName(disposition string, body map[string]any) string {
	if _, p, err := mime.ParseMediaType(disposition); err == nil && p["filename"] != "" {
		return filepath.Base(p["filename"])
	}
	format, _ := body["format"].(string)
	ext := map[string]string{"": "png", "metadata": "json", "links": "json", "json_ld": "json", "markdown": "md", "text": "txt"}[format]
	if ext == "" {
		ext = format
	}
	return "screenshot." + filepath.Base(ext)
}

func (c *command) write(name string, data []byte) error {
	if name == "-" {
		_, err := c.stdout.Write(data)
		return err
	}
	return os.WriteFile(name, data, 0o644)
}
