package options

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

// The cases a fault review found, and their neighbours: wrapped durations,
// bad selectors, interaction types, sizes at and past every bound.
var fuzzSeeds = []string{
	`{"url":"https://example.com","wait_for_timeout":9223372036855}`,
	`{"url":"https://example.com","delay_capture":9223372036855}`,
	`{"url":"https://example.com","wait_for_timeout":-1}`,
	`{"url":"https://example.com","interactions":[{"action":"wait_for","wait_for":{"type":"timeout","value":9223372036854775807}}]}`,
	`{"url":"https://example.com","interactions":[{"action":"scroll","x":"a"}]}`,
	`{"url":"https://example.com","interactions":[{"action":"click","selector":"a","bogus":1}]}`,
	`{"url":"https://example.com","interactions":[1]}`,
	`{"url":"https://example.com","interactions":{"action":"click"}}`,
	`{"url":"https://example.com","selector":"a["}`,
	`{"url":"https://example.com","window_width":10000,"window_height":10000,"pixel_density":4}`,
	`{"url":"https://example.com","pixel_density":1e308}`,
	`{"url":"https://example.com","pdf_width":"1e400in"}`,
	`{"html_content":"<p>x</p>","template":"mobile","window_width":0}`,
	`{"url":"https://example.com","custom_headers":{"Host":"x"}}`,
	`{"url":"https://example.com","geolocation":{"latitude":91}}`,
	`{"url":"https://example.com","cache_ttl":9223372036854775807}`,
	`{"url":"file:///etc/passwd"}`,
	`{"":1}`, `{"interactions":[{"":1}],"url":"https://example.com"}`,
	`[]`, `null`, `{}`, `{"url":1}`, `{"url":"https://example.com"}{}`, ``,
}

// Every input gives a valid Options or a FieldError naming a field; never a
// panic, and never a value past the deployment's bounds.
func FuzzParseJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	lim := Limits{MaxTimeout: 60 * time.Second, MaxPixels: 64_000_000}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := ParseJSON(body, lim)
		checkParse(t, o, err, lim)
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"url=https://example.com&wait_for_timeout=9223372036855", "url=x&url=y",
		"interactions=[{\"action\":\"hover\"}]", "interactions=%7B", "full_page=maybe", "=0", "window_width=1e9", "nope=1"} {
		f.Add(s)
	}
	lim := Limits{MaxTimeout: 60 * time.Second, MaxPixels: 64_000_000}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		o, err := ParseQuery(q, lim)
		checkParse(t, o, err, lim)
	})
}

func checkParse(t *testing.T, o *Options, err error, lim Limits) {
	t.Helper()
	if err != nil {
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field == "" || fe.Reason == "" {
			t.Fatalf("not a field error: %#v", err)
		}
		if o != nil {
			t.Fatalf("an error with options")
		}
		return
	}
	if o == nil {
		t.Fatal("no error and no options")
	}
	for _, d := range []time.Duration{o.WaitForTimeout, o.DelayCapture} {
		if d < 0 || d > lim.MaxTimeout {
			t.Fatalf("a wait of %s passed validation", d)
		}
	}
	for _, it := range o.Interactions {
		if it.WaitFor != nil && (it.WaitFor.Duration < 0 || it.WaitFor.Duration > lim.MaxTimeout) {
			t.Fatalf("an interaction wait of %s passed validation", it.WaitFor.Duration)
		}
	}
	if px := float64(o.WindowWidth) * float64(o.WindowHeight) * o.PixelDensity * o.PixelDensity; px > float64(lim.MaxPixels) {
		t.Fatalf("a viewport of %.0f pixels passed validation", px)
	}
	if (o.URL == "") == (o.HTMLContent == "") {
		t.Fatal("not exactly one of url and html_content")
	}
}
