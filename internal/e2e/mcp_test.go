package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds the token to every request of an MCP client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func mcpSession(t *testing.T, e *env, token string) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "pixashot-e2e", Version: "1"}, nil)
	return client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.svc.URL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{token}, Timeout: time.Minute}}, nil)
}

// toolError is a tool result's error body, the HTTP API's fields.
func toolError(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	if !res.IsError || len(res.Content) != 1 {
		t.Fatalf("not a tool error: %+v", res)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The SDK's own client against the service: the tools, their schemas from
// the option table, each one's answer, a bad argument's field, and the
// egress guard exactly as on /capture.
func TestMCPToolsThroughTheSDK(t *testing.T) {
	e := shared
	if _, err := mcpSession(t, e, ""); err == nil {
		t.Error("no token: the session started")
	}
	if _, err := mcpSession(t, e, "wrong-"+e.token); err == nil {
		t.Error("a wrong token: the session started")
	}
	s, err := mcpSession(t, e, e.token)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	list, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	// The tools' arguments are the document's CaptureOptions, less what
	// each tool sets itself: one table behind both.
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage
			}
		}
	}
	json.Unmarshal(e.do(t, "GET", "/openapi.json", nil).body, &doc) //nolint:errcheck // checked below
	documented := doc.Components.Schemas["CaptureOptions"].Properties
	if len(documented) < 50 {
		t.Fatalf("CaptureOptions has %d properties", len(documented))
	}
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		if tool.Name == "get_capture" {
			continue
		}
		var args struct{ Properties map[string]json.RawMessage }
		b, _ := json.Marshal(tool.InputSchema)
		json.Unmarshal(b, &args) //nolint:errcheck // compared below
		for name := range documented {
			_, has := args.Properties[name]
			own := name == "response_type" || (name == "format" && tool.Name != "screenshot" && tool.Name != "capture_async")
			if has == own {
				t.Errorf("%s: option %s in the schema %v, set by the tool %v", tool.Name, name, has, own)
			}
		}
		schema, _ := json.Marshal(tool.InputSchema)
		if !strings.Contains(string(schema), `"window_width"`) || !strings.Contains(string(schema), `"html_content"`) ||
			strings.Contains(string(schema), `"response_type"`) || !strings.Contains(tool.Description, "untrusted") {
			t.Errorf("%s: schema %.200s…, description %q", tool.Name, schema, tool.Description)
		}
	}
	slices.Sort(names)
	if want := []string{"capture_async", "get_capture", "json_ld", "links", "markdown", "metadata", "pdf", "screenshot", "text"}; !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v", names, want)
	}

	call := func(name string, args map[string]any) *mcp.CallToolResult {
		t.Helper()
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("%s: a protocol error: %v", name, err)
		}
		return res
	}
	shot := call("screenshot", map[string]any{"url": e.page + "/color?c=00ff00", "window_width": 64, "window_height": 48})
	if img, ok := shot.Content[0].(*mcp.ImageContent); !ok || img.MIMEType != "image/png" {
		t.Errorf("screenshot: %+v", shot.Content)
	} else if pic, _, err := image.Decode(bytes.NewReader(img.Data)); err != nil || pic.Bounds().Dx() != 64 || !near(rgb(pic, 30, 20), 0, 255, 0) {
		t.Errorf("screenshot pixels: %v", err)
	}
	jpg := call("screenshot", map[string]any{"url": e.page + "/color?c=0000ff", "format": "jpeg", "window_width": 32, "window_height": 32})
	if img, ok := jpg.Content[0].(*mcp.ImageContent); !ok || img.MIMEType != "image/jpeg" {
		t.Errorf("jpeg screenshot: %+v", jpg.Content)
	}
	md := call("markdown", map[string]any{"url": e.page + "/preview"})
	if text := md.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "# Tide tables") || !strings.Contains(text, "pulled by the Moon") {
		t.Errorf("markdown: %.300s", text)
	}
	if text := call("text", map[string]any{"url": e.page + "/preview"}).Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "neap tides") {
		t.Errorf("text: %.300s", text)
	}
	if text := call("metadata", map[string]any{"url": e.page + "/preview"}).Content[0].(*mcp.TextContent).Text; !strings.Contains(text, `"Tide tables"`) {
		t.Errorf("metadata: %.300s", text)
	}
	if text := call("links", map[string]any{"url": e.page + "/links"}).Content[0].(*mcp.TextContent).Text; !strings.Contains(text, `"rel":"next"`) {
		t.Errorf("links: %.300s", text)
	}
	if text := call("json_ld", map[string]any{"url": e.page + "/structured"}).Content[0].(*mcp.TextContent).Text; !strings.Contains(text, `"Spring tide"`) {
		t.Errorf("json_ld: %.300s", text)
	}
	pdf := call("pdf", map[string]any{"html_content": "<h1>For agents</h1>"})
	link, ok := pdf.Content[0].(*mcp.ResourceLink)
	if !ok || link.MIMEType != "application/pdf" || !strings.HasPrefix(link.URI, "http") {
		t.Fatalf("pdf: %+v", pdf.Content)
	}
	resp, err := http.Get(link.URI)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasPrefix(body, []byte("%PDF")) {
		t.Errorf("the pdf link: %d %.50q", resp.StatusCode, body)
	}

	// A long capture: queued at once, then asked after until done.
	queued := call("capture_async", map[string]any{"url": e.page + "/color?c=ff00ff", "window_width": 32, "window_height": 32})
	var job struct{ ID, Status string }
	if err := json.Unmarshal([]byte(queued.Content[0].(*mcp.TextContent).Text), &job); err != nil || job.ID == "" || job.Status != "queued" {
		t.Fatalf("capture_async: %+v %v", queued.Content, err)
	}
	var view struct{ Status, URL string }
	deadline := time.Now().Add(time.Minute)
	for view.Status != "done" && time.Now().Before(deadline) {
		got := call("get_capture", map[string]any{"id": job.ID})
		json.Unmarshal([]byte(got.Content[0].(*mcp.TextContent).Text), &view) //nolint:errcheck // polled until done
		time.Sleep(100 * time.Millisecond)
	}
	if view.Status != "done" || !strings.HasPrefix(view.URL, "http") {
		t.Errorf("get_capture: %+v", view)
	}
	if m := toolError(t, call("get_capture", map[string]any{"id": "000000000000000000000000"})); m["error_type"] != "NotFound" {
		t.Errorf("someone else's or no capture: %v", m)
	}

	// A bad argument names its field, as the HTTP API does.
	if m := toolError(t, call("screenshot", map[string]any{"url": e.page, "wait_for_timeout": -1})); m["error_type"] != "ValidationError" || m["field"] != "wait_for_timeout" {
		t.Errorf("bad argument: %v", m)
	}
	if m := toolError(t, call("screenshot", map[string]any{"url": e.page, "format": "webp"})); m["field"] != "format" {
		t.Errorf("a format the tool does not give: %v", m)
	}
	// The egress guard, exactly as on /capture.
	secret := "http://127.0.0.1:" + strconv.Itoa(e.port) + "/"
	before := e.secretHits.Load()
	want := e.capture(t, opts{"url": secret}).errorJSON(t)
	if m := toolError(t, call("text", map[string]any{"url": secret})); m["error_type"] != want["error_type"] || m["message"] != want["message"] {
		t.Errorf("a loopback URL: %v; /capture said %v", m, want)
	}
	if e.secretHits.Load() != before {
		t.Error("the secret server was reached")
	}
}

// A client speaking the transport by hand, as the specification writes it:
// no SDK on either side of the check.
func TestMCPByTheSpecification(t *testing.T) {
	e := shared
	rpc := func(token string, body string) (int, http.Header, map[string]any) {
		req, _ := http.NewRequest("POST", e.svc.URL+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &m) //nolint:errcheck // the status says enough when it is not JSON
		return resp.StatusCode, resp.Header, m
	}
	if status, _, m := rpc("", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); status != 401 || m["error_type"] != "AuthenticationError" {
		t.Errorf("no token: %d %v", status, m)
	}
	status, h, m := rpc(e.token, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"by-hand","version":"1"}}}`)
	result, _ := m["result"].(map[string]any)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || result["protocolVersion"] != "2025-06-18" || m["id"] != float64(1) {
		t.Fatalf("initialize: %d %s %v", status, h.Get("Content-Type"), m)
	}
	if h.Get("Mcp-Session-Id") != "" {
		t.Errorf("a stateless server handed out a session: %s", h.Get("Mcp-Session-Id"))
	}
	status, _, m = rpc(e.token, `{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"text","arguments":{"html_content":"<article><h1>By hand</h1><p>The transport is JSON-RPC over one POST, and this paragraph is the main content of a small page.</p></article>"}}}`)
	result, _ = m["result"].(map[string]any)
	content, _ := result["content"].([]any)
	if status != 200 || len(content) != 1 || !strings.Contains(content[0].(map[string]any)["text"].(string), "JSON-RPC over one POST") {
		t.Errorf("tools/call: %d %v", status, m)
	}
	// An unknown tool is a JSON-RPC error; a bad argument a tool error.
	if _, _, m = rpc(e.token, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope","arguments":{}}}`); m["error"] == nil {
		t.Errorf("an unknown tool: %v", m)
	}
	_, _, m = rpc(e.token, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"text","arguments":{"url":"ftp://example.com/"}}}`)
	if result, _ = m["result"].(map[string]any); result["isError"] != true || !strings.Contains(toJSON(result["structuredContent"]), `"field":"url"`) {
		t.Errorf("a bad url: %v", m)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
