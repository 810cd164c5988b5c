package capture

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// maxLinks bounds format links: a page of a million anchors answers with
// the first ones and says it was cut.
const maxLinks = 2000

// linksJS reads the links of the rendered page in the isolated world, where
// the page's own script cannot redefine what an anchor's href or text
// reads as.
const linksJS = `(max) => {
	const all = document.querySelectorAll("a[href], area[href]");
	const links = [];
	for (const a of all) {
		if (links.length >= max) break;
		links.push({href: a.href, text: (a.innerText || a.getAttribute("alt") || a.textContent || "").replace(/\s+/g, " ").trim().slice(0, 500),
			rel: (a.getAttribute("rel") || "").slice(0, 100)});
	}
	return {url: location.href, count: all.length, links};
}`

// Link is one link of a page.
type Link struct {
	Href     string `json:"href"` // resolved against the document's base
	Text     string `json:"text"`
	Rel      string `json:"rel,omitempty"`
	SameSite bool   `json:"same_site"` // the page's registrable domain (scheme and eTLD+1)
}

// Links is format links.
type Links struct {
	URL       string `json:"url"`
	Count     int    `json:"count"` // every link of the page
	Truncated bool   `json:"truncated"`
	Links     []Link `json:"links"`
}

func links(ctx context.Context, o *options.Options) ([]byte, error) {
	l, err := callJS[Links](ctx, linksJS, maxLinks)
	if err != nil {
		return nil, err
	}
	page := site(l.URL)
	for i := range l.Links {
		l.Links[i].Href = truncate(l.Links[i].Href, metadataLimit)
		l.Links[i].SameSite = page != "" && site(l.Links[i].Href) == page
	}
	l.Truncated = l.Count > len(l.Links)
	if o.HTMLContent != "" {
		l.URL = "" // the synthetic origin's, not a page's
	}
	return json.Marshal(l)
}

// site is a URL's scheme and registrable domain, as browsers compare sites;
// "" for what has none (mailto:, an address).
func site(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		host = d
	}
	return u.Scheme + "://" + host
}
