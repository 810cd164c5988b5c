package extract

import (
	"errors"
	"strings"
	"testing"
)

// An article page as sites build them: navigation, an ad, the article, a
// footer. Only the article comes out.
const page = `<!doctype html><html lang="en"><head><title>How tides work</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/about">About us</a></nav>
<div class="ad-banner">Buy now! Limited offer!</div>
<article><h1>How tides work</h1>
<p>The Moon pulls on the oceans. Where it is overhead the water bulges toward it, and on the far side of the
Earth it bulges away, so most coasts see two high tides a day.</p>
<p>The Sun pulls too, about half as hard. When Sun and Moon line up, at new and full moon, the tides are
highest: these are <strong>spring tides</strong>, and they have nothing to do with the season.</p>
<p>Read more in <a href="/guide">the guide</a>.</p>
<p><img src="/img/harbour.png" alt="The harbour at low tide"></p>
</article>
<footer>Copyright 2026 Example Media. All rights reserved.</footer></body></html>`

func TestMarkdown(t *testing.T) {
	md, err := Markdown([]byte(page), "https://example.com/tides")
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{"# How tides work", "two high tides a day", "**spring tides**", "[the guide](https://example.com/guide)",
		"![The harbour at low tide](https://example.com/img/harbour.png)"} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q:\n%s", want, s)
		}
	}
	for _, junk := range []string{"Buy now", "About us", "All rights reserved"} {
		if strings.Contains(s, junk) {
			t.Errorf("markdown keeps %q:\n%s", junk, s)
		}
	}
}

func TestText(t *testing.T) {
	txt, err := Text([]byte(page), "https://example.com/tides")
	if err != nil {
		t.Fatal(err)
	}
	s := string(txt)
	if !strings.HasPrefix(s, "How tides work\n") || !strings.Contains(s, "spring tides") || strings.Contains(s, "<") || strings.Contains(s, "Buy now") {
		t.Errorf("text:\n%s", s)
	}
}

func TestNoContent(t *testing.T) {
	if _, err := Markdown([]byte(`<html><body></body></html>`), "https://example.com/"); !errors.Is(err, ErrNoContent) && err == nil {
		t.Errorf("an empty page: %v", err)
	}
}

// markdown_mode full: the whole page, navigation and footer too, with its
// links and images resolved against the page.
func TestFullMarkdown(t *testing.T) {
	md, err := FullMarkdown([]byte(page), "https://example.com/tides")
	if err != nil {
		t.Fatal(err)
	}
	s := string(md)
	for _, want := range []string{"[About us](https://example.com/about)", "Buy now", "two high tides a day",
		"![The harbour at low tide](https://example.com/img/harbour.png)", "All rights reserved"} {
		if !strings.Contains(s, want) {
			t.Errorf("full markdown lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "<nav") || strings.Contains(s, "<footer") {
		t.Errorf("HTML left in:\n%s", s)
	}
}
