package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

func load(t *testing.T, doc []byte) *openapi3.T {
	t.Helper()
	l := openapi3.NewLoader()
	d, err := l.LoadFromData(doc)
	if err != nil {
		t.Fatalf("kin-openapi cannot load the document: %v", err)
	}
	if err := d.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi finds the document invalid: %v", err)
	}
	return d
}

func TestDocumentIsValidOpenAPI31(t *testing.T) {
	lim, err := DefaultLimits()
	if err != nil {
		t.Fatal(err)
	}
	d := load(t, Document(lim))
	if !d.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", d.OpenAPI)
	}
	// Every capture option is in the request body's schema, nothing else.
	props := d.Components.Schemas["CaptureOptions"].Value.Properties
	fields := options.Fields(lim)
	if len(props) != len(fields) {
		t.Errorf("CaptureOptions has %d properties, the parser %d fields", len(props), len(fields))
	}
	for _, f := range fields {
		if props[f.Name] == nil {
			t.Errorf("%s is missing from CaptureOptions", f.Name)
		}
	}
	// Each route of the contract is there.
	for _, p := range []string{"/capture", "/sign", "/captures/{id}", "/captures", "/batches/{id}", "/files/{client}/{id}",
		"/health", "/health/live", "/health/ready", "/openapi.json", "/"} {
		if d.Paths.Find(p) == nil {
			t.Errorf("no path %s", p)
		}
	}
}

// The schema the document gives an option validates like the parser: a value
// out of range fails both.
func TestSchemasValidateValues(t *testing.T) {
	lim, _ := DefaultLimits()
	d := load(t, Document(lim))
	opts := d.Components.Schemas["CaptureOptions"].Value
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{"url":"https://a.test/","window_width":1280,"format":"pdf","cookies":[{"name":"a","value":"b"}]}`, true},
		{`{"url":"https://a.test/","window_width":0}`, false},
		{`{"url":"https://a.test/","format":"gif"}`, false},
		{`{"url":"https://a.test/","pixel_density":0}`, false},
		{`{"url":"https://a.test/","nope":1}`, false},
		{`{"url":"https://a.test/","cookies":[{"name":"a"}]}`, false},
	} {
		v, err := decode(c.body)
		if err != nil {
			t.Fatal(err)
		}
		err = opts.VisitJSON(v, openapi3.EnableJSONSchema2020())
		if (err == nil) != c.ok {
			t.Errorf("%s: schema says %v, want ok=%v", c.body, err, c.ok)
		}
		_, perr := options.ParseJSON([]byte(c.body), lim)
		if (perr == nil) != c.ok {
			t.Errorf("%s: parser says %v, want ok=%v", c.body, perr, c.ok)
		}
	}
}

// The committed document is this package's output for the default limits.
func TestCommittedDocumentIsCurrent(t *testing.T) {
	lim, _ := DefaultLimits()
	committed, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, Document(lim)) {
		t.Fatal("docs/openapi.json is stale: run go generate ./internal/openapi")
	}
	// And a deployment's own limits reach its document.
	other := Document(options.Limits{MaxTimeout: 10 * time.Second, MaxPixels: lim.MaxPixels})
	if bytes.Equal(other, committed) || !bytes.Contains(other, []byte(`"maximum": 10000`)) {
		t.Error("CAPTURE_TIMEOUT does not reach the document")
	}
}

func decode(s string) (any, error) {
	var v any
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

// The committed client is what oapi-codegen writes from the committed
// document today.
func TestGeneratedClientIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oapi-codegen")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg.yaml")
	conf, err := os.ReadFile("client/oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf = bytes.Replace(conf, []byte("output: client/client.gen.go"), []byte("output: "+filepath.Join(dir, "client.gen.go")), 1)
	os.WriteFile(cfg, conf, 0o644) //nolint:errcheck // read next
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", cfg, "../../docs/openapi.json")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, out)
	}
	fresh, err := os.ReadFile(filepath.Join(dir, "client.gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := os.ReadFile("client/client.gen.go")
	if !bytes.Equal(fresh, committed) {
		t.Fatal("internal/openapi/client is stale: run go generate ./internal/openapi")
	}
}
