// Package openapi describes the service's HTTP contract as an OpenAPI 3.1
// document. The capture options come from the option parser's own
// description (options.Fields), so the document cannot drift from what the
// service accepts; docs/openapi.json is this package's output for the
// default limits (go generate ./internal/openapi).
package openapi

//go:generate go run ./gen -o ../../docs/openapi.json
//go:generate go tool oapi-codegen -config client/oapi-codegen.yaml ../../docs/openapi.json

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pixashot/pixashot-cloudrun/internal/apierror"
	"github.com/pixashot/pixashot-cloudrun/internal/capture"
	"github.com/pixashot/pixashot-cloudrun/internal/config"
	"github.com/pixashot/pixashot-cloudrun/internal/imagediff"
	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

type obj = map[string]any

// Document is the OpenAPI document for a deployment with these limits, as
// indented JSON.
func Document(lim options.Limits) []byte {
	b, err := json.MarshalIndent(build(lim), "", "  ")
	if err != nil {
		panic(err) // plain maps of plain values
	}
	return append(b, '\n')
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func build(lim options.Limits) obj {
	fields := options.Fields(lim)
	return obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":   "Pixashot",
			"version": "2.0.0",
			"summary": "Screenshots, PDFs, HTML, Markdown, text and metadata of web pages.",
			"description": "A capture API compatible with the original Pixashot's options. Every error is JSON " +
				"(Error). Limits shown are this deployment's; another CAPTURE_TIMEOUT changes the millisecond bounds.",
			"license": obj{"name": "MIT", "identifier": "MIT"},
		},
		"security": []any{obj{"bearer": []any{}}},
		"paths":    paths(fields),
		"webhooks": obj{"capture": obj{"post": obj{"operationId": "captureWebhook", "summary": "An asynchronous capture ended",
			"description": "Verify webhook-signature: v1, base64 HMAC-SHA256 with the key of WEBHOOK_SIGNING_KEY over \"webhook-id.webhook-timestamp.body\".",
			"parameters": []any{
				obj{"name": "webhook-id", "in": "header", "required": true, "schema": obj{"type": "string"}, "description": "msg_ and the capture's id; the same on every retry."},
				obj{"name": "webhook-timestamp", "in": "header", "required": true, "schema": obj{"type": "string"}, "description": "Unix seconds."},
				obj{"name": "webhook-signature", "in": "header", "required": true, "schema": obj{"type": "string"}, "description": "v1,<base64 HMAC-SHA256>."},
			},
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": ref("CaptureEvent")}}},
			"responses":   obj{"200": obj{"description": "Any 2xx delivers; 5xx, 429 and timeouts are retried with backoff."}}}},
			"monitor": obj{"post": obj{"operationId": "monitorWebhook", "summary": "A monitor's run is news",
				"description": "monitor.changed: a run's mismatch_ratio passed the monitor's threshold; monitor.failed: its capture failed twice in a row " +
					"(once per streak). Signed as the capture webhook; webhook-id is msg_<monitor id>_<slot>.",
				"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": ref("MonitorEvent")}}},
				"responses":   obj{"200": obj{"description": "Any 2xx delivers; 5xx, 429 and timeouts are retried with backoff."}}}}},
		"components": obj{
			"securitySchemes": obj{
				"bearer": obj{"type": "http", "scheme": "bearer", "description": "A client token (Authorization: Bearer …)."},
				"signedURL": obj{"type": "apiKey", "in": "query", "name": "signature",
					"description": "A URL minted by POST /sign (or signed with the URL signing key): it is the credential."},
			},
			"schemas": obj{
				"CaptureOptions": optionsSchema(fields),
				"Error":          errorSchema(),
				"Link": object("A stored capture and a short-lived download URL.", []string{"id", "url", "expires_at", "format", "bytes"}, obj{
					"id": str("The capture's id."), "status": obj{"type": "string", "const": "done"}, "url": str("Download URL; expires at expires_at."),
					"expires_at": dateTime("When url stops working."), "format": str("The capture's format."),
					"bytes": obj{"type": "integer", "description": "Size of the capture."}, "diff": ref("Diff"),
				}),
				"Diff": reflectSchema(reflect.TypeFor[imagediff.Result](), "With compare_to or baseline: how the capture differs (pixelmatch's count) "+
					"and the stored diff image (changed pixels red over the faded capture); also in X-Diff-Ratio, X-Diff-Pixels and X-Diff-Url."),
				"CaptureJSON": object("response_type json: the capture in base64.", []string{"file", "format"}, obj{
					"file":   obj{"type": "string", "contentEncoding": "base64", "description": "The capture."},
					"format": str("The capture's format."), "metadata": ref("Metadata"), "diff": ref("Diff"),
				}),
				"Metadata":    reflectSchema(reflect.TypeFor[capture.Metadata](), "What the page says about itself (format metadata)."),
				"SignRequest": signRequest(),
				"SignedURL": object("A signed GET /capture URL.", []string{"url", "expires_at"}, obj{
					"url": str("GET this URL to capture, no token needed."), "expires_at": dateTime("When the URL stops working."),
				}),
				"Health": object("The service's state; checks only for a caller with a valid token.", []string{"status", "timestamp", "version"}, obj{
					"status": obj{"type": "string", "enum": []string{"healthy", "starting"}}, "timestamp": dateTime("Now."),
					"version": str("The build's revision."), "checks": obj{"type": "object", "description": "Load, memory and queue."},
				}),
				"Status":       object("A probe's answer.", []string{"status"}, obj{"status": str("alive, ready or not ready.")}),
				"AsyncCapture": asyncCapture(fields),
				"BatchRequest": object("Up to BATCH_MAX (default 100) captures, one webhook for each.", []string{"batch"}, obj{
					"batch":       obj{"type": "array", "minItems": 1, "items": ref("CaptureOptions")},
					"webhook_url": webhookURL(),
				}),
				"Queued": object("One capture, queued durably.", []string{"id", "status"}, obj{
					"id": str("The capture's id, for GET /captures/{id}."), "status": obj{"type": "string", "const": "queued"}}),
				"BatchQueued": object("A batch, queued durably.", []string{"batch_id", "ids", "status"}, obj{
					"batch_id": str("For GET /batches/{batch_id}."), "ids": obj{"type": "array", "items": obj{"type": "string"}},
					"status": obj{"type": "string", "const": "queued"}}),
				"Job":            jobSchema(),
				"Batch":          batchSchema(),
				"Delivery":       deliverySchema(),
				"MonitorRequest": monitorRequest(fields),
				"Monitor":        monitorSchema(),
				"MonitorRun":     monitorRunSchema(),
				"MonitorList": object("The client's monitors, each with its last run.", []string{"monitors"}, obj{
					"monitors": obj{"type": "array", "items": ref("Monitor")}}),
				"MonitorEvent": object("A monitor webhook's body (Standard Webhooks).", []string{"type", "timestamp", "data"}, obj{
					"type":      obj{"type": "string", "enum": []string{"monitor.changed", "monitor.failed"}},
					"timestamp": dateTime("When it was sent."),
					"data": object("The monitor and its run.", []string{"monitor_id", "threshold", "run"}, obj{
						"monitor_id": str("The monitor's id."), "threshold": obj{"type": "number"}, "run": ref("MonitorRun")})}),
				"CaptureEvent": object("A webhook's body (Standard Webhooks).", []string{"type", "timestamp", "data"}, obj{
					"type":      obj{"type": "string", "enum": []string{"capture.done", "capture.failed"}},
					"timestamp": dateTime("When it was sent."), "data": ref("Job")}),
			},
		},
	}
}

func webhookURL() obj {
	return obj{"type": "string", "maxLength": 2048, "description": "Where to POST the result, signed (Standard Webhooks). " +
		"http(s), public addresses only, no redirects followed."}
}

func asyncCapture(fields []options.Field) obj {
	s := optionsSchema(fields)
	withHook := obj{"webhook_url": webhookURL()}
	for k, v := range s["properties"].(obj) {
		withHook[k] = v
	}
	s["properties"] = withHook
	s["description"] = "One capture: the options of POST /capture (response_type is always url) and an optional webhook_url."
	return s
}

func monitorRequest(fields []options.Field) obj {
	return object("A page to watch: capture options (no credentials: cookies, custom_headers and a proxy's password are refused, "+
		"as the options are stored while the monitor lives), a schedule, and when to be told.", []string{"options", "schedule"}, obj{
		"options": ref("CaptureOptions"),
		"schedule": str("A five-field cron expression (minute hour day month weekday), as Cloud Scheduler takes it. Runs at least 5 minutes " +
			"apart, and at least once per STORAGE_RETENTION (less an hour): each run compares with the last run's capture."),
		"time_zone":   str("The schedule's IANA time zone; default UTC."),
		"webhook_url": webhookURL(),
		"threshold":   obj{"type": "number", "minimum": 0, "maximum": 1, "default": 0.01, "description": "The mismatch_ratio past which a run is changed (and monitor.changed is sent)."},
	})
}

func monitorSchema() obj {
	return object("A monitor and its last runs (GET /monitors: the last one only).", []string{"id", "schedule", "threshold", "options", "created_at", "runs"}, obj{
		"id": str("The monitor's id."), "schedule": str("Its cron expression."), "time_zone": str("The schedule's time zone."),
		"webhook_url": str("Where its news goes."), "threshold": obj{"type": "number"},
		"options":           obj{"type": "object", "description": "The capture options, as given."},
		"created_at":        dateTime("When it was created."),
		"failures_in_a_row": obj{"type": "integer", "description": "Failed runs since the last that succeeded."},
		"runs":              obj{"type": "array", "maxItems": 20, "items": ref("MonitorRun"), "description": "Newest first."},
	})
}

func monitorRunSchema() obj {
	return object("One run of a monitor.", []string{"at", "status"}, obj{
		"at": dateTime("The time the schedule named."),
		"status": obj{"type": "string", "enum": []string{"baseline", "unchanged", "changed", "failed"},
			"description": "baseline: nothing to compare with (the first run, or the last capture is past retention)."},
		"capture_id": str("The run's capture."), "capture_url": str("Its download URL (fresh at each read)."),
		"diff":       ref("Diff"),
		"error_type": obj{"type": "string", "enum": apierror.Types, "description": "failed: why."},
		"message":    str("failed: what went wrong."),
	})
}

func jobSchema() obj {
	return object("An asynchronous capture, or a stored one (always done).", []string{"id", "status"}, obj{
		"id": str("The capture's id."), "batch_id": str("Its batch, if any."),
		"status":     obj{"type": "string", "enum": []string{"queued", "running", "done", "failed"}},
		"created_at": dateTime("When it was submitted."),
		"url":        str("done: a download URL, until expires_at."), "expires_at": dateTime("When url stops working."),
		"format": str("done: the capture's format."), "bytes": obj{"type": "integer", "description": "done: its size."},
		"error_type": obj{"type": "string", "enum": apierror.Types, "description": "failed: why, as the synchronous route would answer."},
		"message":    str("failed: what went wrong."),
		"webhook":    ref("Delivery"),
		"diff":       ref("Diff"),
	})
}

func deliverySchema() obj {
	return object("The job's webhook.", []string{"url", "state", "attempts"}, obj{
		"url": str("Where it goes."), "state": obj{"type": "string", "enum": []string{"pending", "delivered", "failed"}},
		"attempts": obj{"type": "integer"}, "status": obj{"type": "integer", "description": "The receiver's last answer."},
	})
}

func batchSchema() obj {
	counts := obj{}
	for _, st := range []string{"queued", "running", "done", "failed"} {
		counts[st] = obj{"type": "integer"}
	}
	return object("A batch and its captures.", []string{"batch_id", "status", "counts", "items"}, obj{
		"batch_id": str("The batch's id."), "status": obj{"type": "string", "enum": []string{"running", "done"}},
		"created_at": dateTime("When it was submitted."),
		"counts":     obj{"type": "object", "properties": counts},
		"items":      obj{"type": "array", "items": ref("Job")},
	})
}

func str(desc string) obj { return obj{"type": "string", "description": desc} }
func dateTime(desc string) obj {
	return obj{"type": "string", "format": "date-time", "description": desc}
}

func object(desc string, required []string, props obj) obj {
	return obj{"type": "object", "description": desc, "required": required, "properties": props}
}

func optionsSchema(fields []options.Field) obj {
	s := fieldSchema(options.Field{Type: "object", Properties: fields})
	s["description"] = "What to capture and how. Exactly one of url and html_content. Unknown fields are a 400."
	return s
}

// fieldSchema is one option's JSON Schema.
func fieldSchema(f options.Field) obj {
	s := obj{}
	if f.Type != "" {
		s["type"] = f.Type
	} else {
		s["oneOf"] = []any{obj{"type": "string"}, obj{"type": "integer"}}
	}
	if f.Description != "" {
		s["description"] = f.Description
	}
	if f.Enum != nil {
		s["enum"] = f.Enum
	}
	if f.Minimum != nil {
		if f.ExclusiveMinimum {
			s["exclusiveMinimum"] = *f.Minimum // a number in 3.1 (JSON Schema 2020-12)
		} else {
			s["minimum"] = *f.Minimum
		}
	}
	if f.Maximum != nil {
		s["maximum"] = *f.Maximum
	}
	if f.MaxLength > 0 {
		s["maxLength"] = f.MaxLength
	}
	if f.MaxItems > 0 {
		s["maxItems"] = f.MaxItems
	}
	if f.Default != nil {
		s["default"] = f.Default
	}
	if len(f.Required) > 0 {
		s["required"] = f.Required
	}
	if f.Items != nil {
		s["items"] = fieldSchema(*f.Items)
	}
	if f.Properties != nil {
		props := obj{}
		for _, p := range f.Properties {
			props[p.Name] = fieldSchema(p)
		}
		s["properties"] = props
		s["additionalProperties"] = false
	}
	if f.Values != nil {
		s["additionalProperties"] = fieldSchema(*f.Values)
	}
	return s
}

func errorSchema() obj {
	return object("Every error the service answers.", []string{"status", "error_type", "message", "timestamp"}, obj{
		"status":        obj{"type": "string", "const": "error"},
		"error_type":    obj{"type": "string", "enum": apierror.Types},
		"message":       str("What went wrong, for a person."),
		"field":         str("The option at fault (ValidationError), such as cookies[1].same_site."),
		"retry_after":   obj{"type": "integer", "description": "Seconds to wait (429, 503); also in Retry-After."},
		"target_status": obj{"type": "integer", "description": "The page's HTTP status (TargetStatusError)."},
		"diff":          ref("Diff"),
		"timestamp":     dateTime("When."),
	})
}

func signRequest() obj {
	return object("Capture options to sign, and the URL's lifetime.", []string{"params"}, obj{
		"params":     ref("CaptureOptions"),
		"expires_in": obj{"type": "integer", "minimum": 1, "maximum": 86400, "default": 3600, "description": "Seconds."},
	})
}

// reflectSchema describes a response struct by its JSON tags.
func reflectSchema(t reflect.Type, desc string) obj {
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Int:
		return obj{"type": "integer"}
	case reflect.Float64:
		return obj{"type": "number"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": reflectSchema(t.Elem(), "")}
	case reflect.Slice:
		return obj{"type": "array", "items": reflectSchema(t.Elem(), "")}
	}
	props := obj{}
	var required []string
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		props[name] = reflectSchema(t.Field(i).Type, "")
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	s := obj{"type": "object", "properties": props, "required": required}
	if desc != "" {
		s["description"] = desc
	}
	return s
}

var errorCodes = []int{400, 401, 403, 404, 405, 409, 413, 429, 500, 501, 502, 503, 504}

// errors are the answers of a route that fail, with Retry-After where it is sent.
func errorResponses(codes ...int) obj {
	out := obj{}
	for _, c := range codes {
		r := obj{"description": http.StatusText(c), "content": obj{"application/json": obj{"schema": ref("Error")}}}
		if c == 409 || c == 429 || c == 503 {
			r["headers"] = obj{"Retry-After": header("integer", "Seconds to wait.")}
		}
		out[strconv.Itoa(c)] = r
	}
	return out
}

func header(typ, desc string) obj { return obj{"description": desc, "schema": obj{"type": typ}} }

func captureHeaders() obj {
	return obj{
		"X-Capture-Id":               header("string", "The capture's id."),
		"X-Target-Status":            header("integer", "The page's HTTP status."),
		"X-Target-Final-Url":         header("string", "Where the page redirected to, when it did."),
		"X-Cache":                    obj{"description": "With cache_ttl: whether the answer came from the cache.", "schema": obj{"type": "string", "enum": []string{"hit", "miss"}}},
		"X-Pixashot-Ignored-Options": header("string", "The original's options this request set that have no effect here."),
		"X-Diff-Ratio":               header("number", "With compare_to or baseline: the share of changed pixels."),
		"X-Diff-Pixels":              header("integer", "With compare_to or baseline: the changed pixels."),
		"X-Diff-Url":                 header("string", "With compare_to or baseline: the diff image's download URL."),
		"X-RateLimit-Limit":          header("integer", "Requests per window for this client."),
		"X-RateLimit-Remaining":      header("integer", "Requests left in the window."),
		"X-RateLimit-Reset":          header("integer", "When the window resets, Unix seconds."),
	}
}

// binaryContent is a capture's bytes, by format.
func binaryContent() obj {
	out := obj{}
	for _, ct := range []string{"image/png", "image/jpeg", "image/webp", "application/pdf", "text/html", "text/markdown", "text/plain"} {
		out[ct] = obj{"schema": obj{"type": "string", "contentMediaType": ct}}
	}
	return out
}

// captureResponses are what a capture answers, by response_type and format.
func captureResponses() obj {
	binary := binaryContent()
	binary["application/json"] = obj{"schema": obj{"oneOf": []any{ref("CaptureJSON"), ref("Metadata")}}}
	out := errorResponses(errorCodes...)
	out["200"] = obj{"description": "The capture (response_type by_format), its JSON form (json), or the page's metadata (format metadata).",
		"headers": captureHeaders(), "content": binary}
	out["201"] = obj{"description": "response_type url: the capture is stored.", "headers": captureHeaders(),
		"content": obj{"application/json": obj{"schema": ref("Link")}}}
	out["204"] = obj{"description": "response_type empty.", "headers": captureHeaders()}
	return out
}

func jsonBody(schema string) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

func ok(desc, schema string) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref(schema)}}}
}

func merge(a, b obj) obj {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func paths(fields []options.Field) obj {
	idParam := []any{obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string"}}}
	public := []any{}
	return obj{
		"/capture": obj{
			"post": obj{"operationId": "capture", "summary": "Capture a page", "requestBody": jsonBody("CaptureOptions"),
				"responses": captureResponses()},
			"get": obj{"operationId": "captureSigned", "summary": "Capture through a signed URL",
				"description": "The options as query parameters (objects and arrays as JSON text), with the signature.",
				"security":    []any{obj{"signedURL": []any{}}}, "parameters": queryParams(fields), "responses": captureResponses()},
		},
		"/captures": obj{"post": obj{"operationId": "captureAsync", "summary": "Queue a capture or a batch",
			"description": "Answers 202 once every job is durably queued; validation happens first (a bad item is a 400 naming batch[i].field).",
			"parameters": []any{obj{"name": "Idempotency-Key", "in": "header", "schema": obj{"type": "string", "maxLength": 255},
				"description": "The same key and body from the same client within 24 h returns the same ids, across instances; while the first request with the key is still being answered, another is a 409 Conflict to retry."}},
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{
				"oneOf": []any{ref("BatchRequest"), ref("AsyncCapture")}}}}},
			"responses": merge(errorResponses(400, 401, 403, 409, 413, 429, 501, 503), obj{"202": obj{"description": "Queued.",
				"headers": obj{"Idempotent-Replayed": header("string", "true when the answer is a replay of an earlier one.")},
				"content": obj{"application/json": obj{"schema": obj{"oneOf": []any{ref("Queued"), ref("BatchQueued")}}}}}})}},
		"/batches/{id}": obj{"get": obj{"operationId": "getBatch", "summary": "A batch's captures and their states (its owner only)",
			"parameters": idParam, "responses": merge(errorResponses(401, 403, 404, 429, 503), obj{"200": ok("The batch.", "Batch")})}},
		"/monitors": obj{
			"post": obj{"operationId": "createMonitor", "summary": "Watch a page on a schedule",
				"description": "Each run captures, compares with the previous run's capture (pixelmatch), stores both, and sends monitor.changed " +
					"past the threshold. At most MONITORS_MAX (default 100) per client: past it, a 409.",
				"requestBody": jsonBody("MonitorRequest"),
				"responses":   merge(errorResponses(400, 401, 403, 409, 413, 429, 501, 503), obj{"201": ok("Created and scheduled.", "Monitor")})},
			"get": obj{"operationId": "listMonitors", "summary": "The client's monitors",
				"responses": merge(errorResponses(401, 403, 429, 503), obj{"200": ok("The monitors.", "MonitorList")})},
		},
		"/monitors/{id}": obj{
			"get": obj{"operationId": "getMonitor", "summary": "A monitor and its last runs (its owner only)",
				"parameters": idParam, "responses": merge(errorResponses(401, 403, 404, 429, 503), obj{"200": ok("The monitor.", "Monitor")})},
			"delete": obj{"operationId": "deleteMonitor", "summary": "Stop and delete a monitor (its owner only); its captures stay until retention",
				"parameters": idParam, "responses": merge(errorResponses(401, 403, 404, 429, 503), obj{"204": obj{"description": "Deleted."}})},
		},
		"/sign": obj{"post": obj{"operationId": "sign", "summary": "Mint a signed capture URL", "requestBody": jsonBody("SignRequest"),
			"responses": merge(errorResponses(400, 401, 403, 413, 429, 503), obj{"200": ok("The URL.", "SignedURL")})}},
		"/captures/{id}": obj{
			"get": obj{"operationId": "getStoredCapture", "summary": "A capture's state, with a fresh link once done (its owner only)",
				"parameters": idParam, "responses": merge(errorResponses(401, 403, 404, 429, 503), obj{"200": ok("The capture.", "Job")})},
			"delete": obj{"operationId": "deleteStoredCapture", "summary": "Delete a stored capture (its owner only)",
				"parameters": idParam, "responses": merge(errorResponses(401, 403, 404, 429, 503), obj{"204": obj{"description": "Deleted."}})},
		},
		"/files/{client}/{id}": obj{"get": obj{"operationId": "download", "summary": "Download a stored capture (local store only)",
			"description": "Without BUCKET, stored captures are served here; the signed link (the url of a stored capture) is the credential.",
			"security":    public, "parameters": []any{
				obj{"name": "client", "in": "path", "required": true, "schema": obj{"type": "string"}},
				obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string"}},
				obj{"name": "expires", "in": "query", "required": true, "schema": obj{"type": "integer"}},
				obj{"name": "signature", "in": "query", "required": true, "schema": obj{"type": "string"}},
				obj{"name": "signature_version", "in": "query", "schema": obj{"type": "string"}},
			},
			"responses": merge(errorResponses(403, 404), obj{"200": obj{"description": "The capture.",
				"content": merge(binaryContent(), obj{"application/json": obj{"schema": obj{"type": "object"}}})}})}},
		"/mcp": obj{"post": obj{"operationId": "mcp", "summary": "The MCP server (Model Context Protocol, Streamable HTTP, stateless)",
			"description": "One JSON-RPC 2.0 message per request (initialize, tools/list, tools/call), answered as application/json. " +
				"Tools: screenshot, pdf, markdown, text, metadata, links, json_ld, capture_async, get_capture; their input schema is " +
				"CaptureOptions less what the tool sets (format, response_type). A tool's failure is a result with isError and the API's error_type and field.",
			"parameters":  []any{obj{"name": "MCP-Protocol-Version", "in": "header", "schema": obj{"type": "string"}}},
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}},
			"responses": merge(errorResponses(401, 403, 413, 429), obj{"200": obj{"description": "The JSON-RPC answer.",
				"content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}})}},
		"/health": obj{"get": obj{"operationId": "health", "summary": "Health", "security": public,
			"responses": obj{"200": ok("Healthy.", "Health"), "503": ok("Starting.", "Health")}}},
		"/health/live": obj{"get": obj{"operationId": "live", "summary": "Liveness", "security": public,
			"responses": obj{"200": ok("Serving.", "Status")}}},
		"/health/ready": obj{"get": obj{"operationId": "ready", "summary": "Readiness: the browser answers", "security": public,
			"responses": obj{"200": ok("Ready.", "Status"), "503": ok("Not ready.", "Status")}}},
		"/openapi.json": obj{"get": obj{"operationId": "openapi", "summary": "This document", "security": public,
			"responses": obj{"200": obj{"description": "OpenAPI 3.1.", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}}},
		"/": obj{"get": obj{"operationId": "playground", "summary": "The playground page", "security": public,
			"responses": obj{"200": obj{"description": "HTML.", "content": obj{"text/html": obj{"schema": obj{"type": "string"}}}}}}},
	}
}

// queryParams are GET /capture's: every option, then the signature's own.
func queryParams(fields []options.Field) []any {
	var out []any
	for _, f := range fields {
		p := obj{"name": f.Name, "in": "query", "description": f.Description}
		if f.Type == "object" || f.Type == "array" {
			p["content"] = obj{"application/json": obj{"schema": fieldSchema(f)}}
		} else {
			p["schema"] = fieldSchema(f)
		}
		out = append(out, p)
	}
	return append(out,
		obj{"name": "expires", "in": "query", "required": true, "description": "Unix seconds; at most 24 h ahead.", "schema": obj{"type": "integer"}},
		obj{"name": "signature", "in": "query", "required": true, "description": "HMAC-SHA256, base64url without padding.", "schema": obj{"type": "string"}},
		obj{"name": "signature_version", "in": "query", "description": "2: the escaped signed text (as POST /sign mints).", "schema": obj{"type": "string"}},
		obj{"name": "client", "in": "query", "description": "The client a minted URL belongs to (signed).", "schema": obj{"type": "string"}},
		obj{"name": "key_version", "in": "query", "description": "The key version that minted it (signed).", "schema": obj{"type": "string"}},
	)
}

// DefaultLimits are the limits of a deployment on the default configuration,
// which the committed document describes.
func DefaultLimits() (options.Limits, error) {
	cfg, err := config.Load(func(k string) string {
		if k == "CHROME_PATH" {
			return os.Args[0] // any file: the document does not depend on the browser
		}
		return ""
	})
	if err != nil {
		return options.Limits{}, err
	}
	return options.Limits{MaxTimeout: cfg.CaptureTimeout, MaxPixels: cfg.MaxPixels}, nil
}

// OptionsSchema is the JSON Schema of the capture options as the document
// has them, less the named fields (those a caller such as an MCP tool
// decides itself): one source for every door into the service.
func OptionsSchema(lim options.Limits, without ...string) map[string]any {
	var fields []options.Field
	for _, f := range options.Fields(lim) {
		if !slices.Contains(without, f.Name) {
			fields = append(fields, f)
		}
	}
	return optionsSchema(fields)
}
