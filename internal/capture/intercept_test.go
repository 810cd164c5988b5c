package capture

import (
	"strings"
	"testing"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

func TestHeaderScopeIsTheOriginAsChromeWritesIt(t *testing.T) {
	for url, want := range map[string]string{
		"https://Example.com/a?b":     "https://example.com/*",
		"https://example.com:443/":    "https://example.com/*",
		"http://example.com:80/x":     "http://example.com/*",
		"http://example.com:8080/x":   "http://example.com:8080/*",
		"http://[2001:db8::1]:80/":    "http://[2001:db8::1]/*",
		"https://[2001:db8::1]:8443/": "https://[2001:db8::1]:8443/*",
	} {
		ic := newInterceptor(&options.Options{URL: url, CustomHeaders: map[string]string{"X-A": "b"}}, nil)
		if ic.headerPat != want {
			t.Errorf("%s: %q, want %q", url, ic.headerPat, want)
		}
		// The prefix that scopes requests paused by another pattern (a
		// blocking capture pauses all) is the same origin.
		if pre := strings.TrimSuffix(want, "*"); ic.headerPre != pre {
			t.Errorf("%s: prefix %q, want %q", url, ic.headerPre, pre)
		}
	}
}

// Interception costs every request of the tab a pass through Chrome's
// browser process: only a capture that asks for what it does turns it on.
func TestOnlyCapturesThatNeedItIntercept(t *testing.T) {
	for name, c := range map[string]struct {
		o    options.Options
		b    *blocker
		want bool
	}{
		"a URL":          {o: options.Options{URL: "https://example.com/"}},
		"html_content":   {o: options.Options{HTMLContent: "<p>x</p>"}, want: true},
		"block_media":    {o: options.Options{URL: "https://example.com/", BlockMedia: true}, want: true},
		"custom_headers": {o: options.Options{URL: "https://example.com/", CustomHeaders: map[string]string{"X-A": "b"}}, want: true},
		"a block list":   {o: options.Options{URL: "https://example.com/"}, b: &blocker{}, want: true},
	} {
		ps := newInterceptor(&c.o, c.b).patterns()
		if (ps != nil) != c.want {
			t.Errorf("%s: intercepts %v, want %v", name, ps != nil, c.want)
		}
		// Where it is on, the refused schemes ride along.
		if c.want && (len(ps) <= len(refusedSchemes) || ps[0].URLPattern != refusedSchemes[0]+"*") {
			t.Errorf("%s: patterns %v", name, ps)
		}
	}
}
