package options

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The description (Fields) and the parser must say the same thing: these
// tests send what the description allows and what it forbids, field by
// field, and check the parser agrees.

var schemaLimits = Limits{MaxTimeout: 60 * time.Second} // MaxPixels 0: the viewport's own bounds alone

// containers give a nested field a valid object to live in; the value under
// test replaces the one at its path.
var containers = map[string]string{
	"pdf_margin":              `{"pdf_margin": {}}`,
	"geolocation":             `{"geolocation": {"latitude": 1, "longitude": 1}}`,
	"clip":                    `{"clip": {"x": 0, "y": 0, "width": 10, "height": 10}}`,
	"cookies[]":               `{"cookies": [{"name": "a", "value": "b", "secure": true}]}`,
	"interactions[]":          `{"interactions": [{"action": "wait_for", "selector": "#a", "text": "x", "x": 0, "y": 0, "wait_for": {"type": "timeout", "value": 1}}]}`,
	"interactions[].wait_for": `{"interactions": [{"action": "wait_for", "wait_for": {"type": "selector", "value": "#a"}}]}`,
	"hide_selectors":          `{"hide_selectors": []}`,
	"custom_headers":          `{"custom_headers": {}}`,
}

// companions are the fields a field needs beside it to mean anything.
var companions = map[string]map[string]any{
	"diff_threshold":     {"compare_to": "0123456789abcdef01234567"},
	"fail_on_diff_ratio": {"compare_to": "0123456789abcdef01234567"},
}

// request builds {"url": …} plus the container of path with path set to v
// (or removed, when v is remove).
func request(t *testing.T, path string, v any) []byte {
	t.Helper()
	req := map[string]any{"url": "https://example.com/"}
	parent, leaf := splitPath(path)
	if parent != "" {
		var c map[string]any
		if err := json.Unmarshal([]byte(containers[parent]), &c); err != nil {
			t.Fatalf("no container for %s", parent)
		}
		for k, cv := range c {
			req[k] = cv
		}
	}
	for k, cv := range companions[path] {
		req[k] = cv
	}
	set(req, parent, leaf, v)
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type removed struct{}

var remove = removed{}

// splitPath splits cookies[].same_site into cookies[] and same_site.
func splitPath(path string) (string, string) {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i], path[i+1:]
	}
	return "", path
}

// set walks req along parent (names, [] for the first item) and sets leaf.
func set(req map[string]any, parent, leaf string, v any) {
	cur := req
	if parent != "" {
		for _, part := range strings.Split(parent, ".") {
			name, item := strings.CutSuffix(part, "[]")
			next := cur[name]
			if item {
				next = next.([]any)[0]
			}
			cur = next.(map[string]any)
		}
	}
	if v == remove {
		delete(cur, leaf)
	} else {
		cur[leaf] = v
	}
}

func top(path string) string { return strings.Split(strings.Split(path, ".")[0], "[")[0] }

func parse(t *testing.T, body []byte) error {
	t.Helper()
	_, err := ParseJSON(body, schemaLimits)
	return err
}

func accepted(t *testing.T, path string, v any) {
	t.Helper()
	if err := parse(t, request(t, path, v)); err != nil {
		t.Errorf("%s = %v: described as valid, refused: %v", path, v, err)
	}
}

func refused(t *testing.T, path string, v any) {
	t.Helper()
	err := parse(t, request(t, path, v))
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, top(path)) {
		t.Errorf("%s = %.40v: described as invalid, parser said %v", path, fmt.Sprint(v), err)
	}
}

// walk visits every field with a name, nested ones included.
func walk(fs []Field, visit func(Field)) {
	for _, f := range fs {
		visit(f)
		if f.Items != nil {
			visit(*f.Items)
			walk(f.Items.Properties, visit)
		}
		walk(f.Properties, visit)
	}
}

func TestEveryFieldIsDescribed(t *testing.T) {
	docs := fieldDocs(schemaLimits)
	seen := map[string]bool{}
	walk(Fields(schemaLimits), func(f Field) {
		seen[f.Path] = true
		if f.Name != "" && f.Description == "" {
			t.Errorf("%s has no description", f.Path)
		}
	})
	for p := range docs {
		if !seen[p] && !strings.HasSuffix(p, ".*") {
			t.Errorf("fieldDocs describes %q, which the parser does not have", p)
		}
	}
	if len(seen) < 90 {
		t.Errorf("only %d fields seen: the walk is broken", len(seen))
	}
}

func TestDescribedTypesAreTheParsersTypes(t *testing.T) {
	wrong := map[string]any{"string": 1, "integer": "1", "number": "1", "boolean": "true", "object": "x", "array": "x"}
	right := map[string]any{"string": "x", "integer": 1, "number": 1.5, "boolean": true}
	walk(Fields(schemaLimits), func(f Field) {
		if f.Name == "" || f.Type == "" || (f.Path != top(f.Path) && containers[mustParent(f.Path)] == "") {
			return
		}
		refused(t, f.Path, wrong[f.Type])
		if v, ok := right[f.Type]; ok && f.Enum == nil && f.Minimum == nil && !constrained[f.Path] {
			accepted(t, f.Path, v)
		}
	})
}

// constrained strings whose content the description leaves to prose.
var constrained = map[string]bool{
	"url": true, "html_content": true, "pdf_page_ranges": true, "pdf_width": true, "pdf_height": true,
	"pdf_margin.top": true, "pdf_margin.right": true, "pdf_margin.bottom": true, "pdf_margin.left": true,
	"timezone": true, "locale": true, "background_color": true, "fail_on_http_status": true, "proxy": true, "freeze_time": true, "mask_color": true, "compare_to": true, "baseline": true,
	"cookies[].domain": true, "cookies[].path": true, "interactions[].wait_for.value": true,
}

func mustParent(path string) string { p, _ := splitPath(path); return p }

func TestEnumsAreExactlyWhatTheParserAccepts(t *testing.T) {
	n := 0
	walk(Fields(schemaLimits), func(f Field) {
		if f.Enum == nil || f.Path == "interactions[].wait_for.type" { // its value's type depends on it: below
			return
		}
		for _, e := range f.Enum {
			accepted(t, f.Path, e)
			n++
		}
		refused(t, f.Path, "not-"+f.Enum[0])
	})
	if n < 40 {
		t.Errorf("only %d enum values tried", n)
	}
	for _, wt := range waitTypes {
		v := `1`
		if wt == "selector" {
			v = `"#a"`
		}
		body := fmt.Sprintf(`{"url":"https://a.test/","interactions":[{"action":"wait_for","wait_for":{"type":%q,"value":%s}}]}`, wt, v)
		if err := parse(t, []byte(body)); err != nil {
			t.Errorf("wait_for.type %s refused: %v", wt, err)
		}
	}
}

func TestRangesAreExactlyWhatTheParserAccepts(t *testing.T) {
	n := 0
	walk(Fields(schemaLimits), func(f Field) {
		if f.Minimum == nil && f.Maximum == nil {
			return
		}
		step := 0.01
		if f.Type == "integer" {
			step = 1
		}
		if m := f.Minimum; m != nil {
			if f.ExclusiveMinimum {
				refused(t, f.Path, *m)
				accepted(t, f.Path, *m+step)
			} else {
				accepted(t, f.Path, *m)
				refused(t, f.Path, *m-step)
			}
			n++
		}
		if m := f.Maximum; m != nil {
			accepted(t, f.Path, *m)
			refused(t, f.Path, *m+step)
			n++
		}
	})
	if n < 25 {
		t.Errorf("only %d bounds tried", n)
	}
}

func TestLengthLimitsAreTheParsers(t *testing.T) {
	walk(Fields(schemaLimits), func(f Field) {
		switch {
		case f.MaxLength > 0 && f.Name != "":
			refused(t, f.Path, strings.Repeat("a", f.MaxLength+1))
		case f.MaxItems > 0:
			item := any("a")
			if f.Items.Type == "object" {
				var c map[string]any
				json.Unmarshal([]byte(containers[f.Path+"[]"]), &c) //nolint:errcheck // the table's own JSON
				item = c[f.Path].([]any)[0]
			}
			items := make([]any, f.MaxItems+1)
			for i := range items {
				items[i] = item
			}
			refused(t, f.Path, items)
			accepted(t, f.Path, items[:f.MaxItems])
		}
	})
	// A header value's limit is on the map's values.
	body := fmt.Sprintf(`{"url":"https://a.test/","custom_headers":{"X-A":%q}}`, strings.Repeat("a", maxHeaderValue+1))
	if err := parse(t, []byte(body)); err == nil {
		t.Error("an over-long header value was accepted")
	}
}

func TestDefaultsAreTheParsers(t *testing.T) {
	base, err := ParseJSON([]byte(`{"url":"https://example.com/"}`), schemaLimits)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range Fields(schemaLimits) {
		if f.Default == nil {
			continue
		}
		o, err := ParseJSON(request(t, f.Name, f.Default), schemaLimits)
		if err != nil {
			t.Errorf("%s: its default %v is refused: %v", f.Name, f.Default, err)
			continue
		}
		if !bytes.Equal(o.Normalized(), base.Normalized()) {
			t.Errorf("%s: the described default %v is not what the parser fills in", f.Name, f.Default)
		}
		n++
	}
	if n < 30 {
		t.Errorf("only %d defaults tried", n)
	}
	// A default that is wrong must be caught: the test itself can fail.
	o, _ := ParseJSON(request(t, "image_quality", 89), schemaLimits)
	if bytes.Equal(o.Normalized(), base.Normalized()) {
		t.Error("Normalized does not see image_quality")
	}
}

func TestRequiredMembersAreRequired(t *testing.T) {
	n := 0
	walk(Fields(schemaLimits), func(f Field) {
		for _, r := range f.Required {
			refused(t, f.Path+"."+r, remove)
			n++
		}
	})
	if n < 7 {
		t.Errorf("only %d required members tried", n)
	}
}

func TestDeploymentLimitsReachTheDescription(t *testing.T) {
	for _, f := range Fields(Limits{MaxTimeout: 5 * time.Second}) {
		if f.Name == "wait_for_timeout" && (*f.Maximum != 5000 || f.Default != 5000) {
			t.Errorf("wait_for_timeout under a 5 s CAPTURE_TIMEOUT: max %v default %v", *f.Maximum, f.Default)
		}
	}
}
