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
