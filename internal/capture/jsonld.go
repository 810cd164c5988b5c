package capture

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/pixashot/pixashot-cloudrun/internal/options"
)

// Bounds of format json_ld: scripts read, and bytes of them together.
const (
	maxJSONLDScripts = 100
	maxJSONLDBytes   = 1 << 20
)

// jsonldJS reads the page's application/ld+json blocks as the rendered
// document holds them (scripts may add them), in the isolated world.
const jsonldJS = `(maxScripts, maxBytes) => {
	const all = document.querySelectorAll('script[type="application/ld+json" i]');
	const blocks = [];
	let bytes = 0, truncated = all.length > maxScripts;
	for (const s of all) {
		if (blocks.length >= maxScripts) break;
		const t = s.textContent || "";
		if (bytes + t.length > maxBytes) { truncated = true; break; }
		bytes += t.length;
		blocks.push(t);
	}
	return {url: location.href, blocks, truncated};
}`

// StructuredData is format json_ld: every JSON-LD block of the page that
// parses, as parsed (a block holding an array gives its items).
type StructuredData struct {
	URL       string            `json:"url"`
	Items     []json.RawMessage `json:"items"`
	Invalid   int               `json:"invalid"` // blocks that are not JSON
	Truncated bool              `json:"truncated"`
}

func structuredData(ctx context.Context, o *options.Options) ([]byte, error) {
	raw, err := callJS[struct {
		URL       string
		Blocks    []string
		Truncated bool
	}](ctx, jsonldJS, maxJSONLDScripts, maxJSONLDBytes)
	if err != nil {
		return nil, err
	}
	sd := StructuredData{URL: raw.URL, Truncated: raw.Truncated, Items: []json.RawMessage{}}
	if o.HTMLContent != "" {
		sd.URL = ""
	}
	for _, b := range raw.Blocks {
		var v json.RawMessage
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			sd.Invalid++
			continue
		}
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
			var items []json.RawMessage
			if json.Unmarshal(t, &items) == nil {
				sd.Items = append(sd.Items, items...)
				continue
			}
		}
		sd.Items = append(sd.Items, v)
	}
	return json.Marshal(sd)
}
