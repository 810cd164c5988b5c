package blocklist

import (
	"errors"
	"slices"
	"sync"
	"testing"
)

var (
	loadOnce sync.Once
	loaded   *Lists
	loadErr  error
)

// installed is the lists as Debian ships them (make deps-test installs them).
func installed(tb testing.TB) *Lists {
	tb.Helper()
	loadOnce.Do(func() { loaded, loadErr = Load(DefaultDir) })
	if loadErr != nil {
		tb.Fatalf("the lists are not installed (make deps-test): %v", loadErr)
	}
	return loaded
}

// Real lines of the lists, matched with their options.
func TestNetworkRules(t *testing.T) {
	l := installed(t)
	cases := []struct {
		name           string
		cat            Category
		target, source string
		typ            string
		want           bool
	}{
		// ||2leep.com^$third-party (EasyList)
		{"third-party ad host", Ads, "https://2leep.com/ad.js", "https://news.example/", "Script", true},
		{"the same host as first party", Ads, "https://2leep.com/ad.js", "https://2leep.com/", "Script", false},
		// /adsbanner-$image
		{"path rule, image", Ads, "http://127.0.0.5/img/adsbanner-1.png", "http://127.0.0.5/", "Image", true},
		{"path rule, another type", Ads, "http://127.0.0.5/img/adsbanner-1.png", "http://127.0.0.5/", "Font", false},
		// ||twt-assets.washtimes.com^$script,domain=washingtontimes.com
		{"domain= matches", Ads, "https://twt-assets.washtimes.com/a.js", "https://www.washingtontimes.com/", "Script", true},
		{"domain= does not", Ads, "https://twt-assets.washtimes.com/a.js", "https://other.example/", "Script", false},
		// ||google-analytics.com^$script,third-party,xmlhttprequest (EasyPrivacy)
		{"tracker under trackers", Trackers, "https://www.google-analytics.com/analytics.js", "https://news.example/", "Script", true},
		{"tracker not under ads", Ads, "https://www.google-analytics.com/analytics.js", "https://news.example/", "Script", false},
		// 1.1.109.99 (URLhaus)
		{"malware host", Trackers, "http://1.1.109.99/payload.bin", "https://news.example/", "Other", true},
		{"an ordinary resource", Ads | Trackers, "https://cdn.example.org/static/app.js", "https://news.example/", "Script", false},
	}
	for _, c := range cases {
		if got := l.Blocked(c.cat, c.target, c.source, c.typ); got != c.want {
			t.Errorf("%s: Blocked(%s from %s) = %v, want %v", c.name, c.target, c.source, got, c.want)
		}
	}
}

func TestElementHiding(t *testing.T) {
	l := installed(t)
	// bigissue.com##.-ad (specific) and ##.ADBAR (generic)
	own := l.Hidden(Ads, "bigissue.com")
	if !slices.Contains(own, ".-ad") || !slices.Contains(own, ".ADBAR") {
		t.Fatalf("bigissue.com: specific or generic selector missing (%d selectors)", len(own))
	}
	if other := l.Hidden(Ads, "other.example"); slices.Contains(other, ".-ad") || !slices.Contains(other, ".ADBAR") {
		t.Fatal("another host got bigissue.com's rule, or lost the generic one")
	}
}

func TestMissingLists(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
}

func TestChatHost(t *testing.T) {
	for host, want := range map[string]bool{"widget.intercom.io": true, "eu.widget.intercom.io": true,
		"intercom.io.evil.example": false, "embed.tawk.to": true, "tawk.to": false} {
		if ChatHost(host) != want {
			t.Errorf("ChatHost(%q) != %v", host, want)
		}
	}
}

// Matching one request against both categories costs microseconds.
func BenchmarkBlocked(b *testing.B) {
	l := installed(b)
	for b.Loop() {
		l.Blocked(Ads|Trackers, "https://cdn.example.org/static/app.js?v=1", "https://news.example/", "Script")
	}
}
