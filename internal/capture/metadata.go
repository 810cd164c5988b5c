package capture

import (
	"context"
	"encoding/json"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// Metadata is what a link preview needs of the rendered page. It is read in
// the isolated world, where page script cannot override what the reader
// calls, and every value is bounded.
type Metadata struct {
	Status      int               `json:"status,omitempty"` // the main document's HTTP status
	FinalURL    string            `json:"final_url,omitempty"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Canonical   string            `json:"canonical"`
	Language    string            `json:"language"`
	OpenGraph   map[string]string `json:"open_graph"`
	Twitter     map[string]string `json:"twitter"`
	Icons       []Icon            `json:"icons"`
}

// Icon is one of the page's icons.
type Icon struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Sizes string `json:"sizes,omitempty"`
	Type  string `json:"type,omitempty"`
}

// metadataJS reads the document's own tags: at most 50 Open Graph and 50
// Twitter properties, 20 icons, each value cut at limit characters.
const metadataJS = `(limit) => {
	const cut = (s, n) => String(s || "").slice(0, n || limit);
	const content = (sel) => { const el = document.querySelector(sel); return el ? cut(el.getAttribute("content")) : ""; };
	const og = {}, tw = {};
	for (const el of document.querySelectorAll("meta[property], meta[name]")) {
		const k = cut(el.getAttribute("property") || el.getAttribute("name"), 100).toLowerCase();
		if (k.startsWith("og:") && Object.keys(og).length < 50) og[k.slice(3)] = cut(el.getAttribute("content"));
		else if (k.startsWith("twitter:") && Object.keys(tw).length < 50) tw[k.slice(8)] = cut(el.getAttribute("content"));
	}
	const icons = [];
	for (const l of document.querySelectorAll("link[rel~='icon'], link[rel='apple-touch-icon'], link[rel='mask-icon']")) {
		if (icons.length >= 20) break;
		icons.push({href: cut(l.href), rel: cut(l.getAttribute("rel"), 100), sizes: cut(l.getAttribute("sizes"), 100), type: cut(l.getAttribute("type"), 100)});
	}
	const canonical = document.querySelector("link[rel='canonical']");
	return {title: cut(document.title), description: content("meta[name='description']"),
		canonical: canonical ? cut(canonical.href) : "", language: cut(document.documentElement.lang, 100),
		open_graph: og, twitter: tw, icons};
}`

// metadataLimit is the longest value kept, in characters.
const metadataLimit = 2048

// metadata reads the page's metadata, with the main document's status and
// URL from the browser's own events.
func metadata(ctx context.Context, w *watch, o *options.Options) (*Metadata, error) {
	raw, err := callJS[json.RawMessage](ctx, metadataJS, metadataLimit)
	if err != nil {
		return nil, err
	}
	var m Metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if o.HTMLContent == "" { // html_content has no document of its own to report
		m.Status, m.FinalURL = w.document()
		m.FinalURL = truncate(m.FinalURL, metadataLimit)
	}
	return &m, nil
}
