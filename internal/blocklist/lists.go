// Package blocklist decides which of a page's requests a capture never makes
// and which elements it hides: EasyList for ads, EasyPrivacy and URLhaus for
// trackers, as Debian ships them with uBlock Origin, matched by AdGuard's
// filter engine; and a short list of chat widgets.
package blocklist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/AdguardTeam/urlfilter"
	"github.com/AdguardTeam/urlfilter/filterlist"
	"github.com/AdguardTeam/urlfilter/rules"
)

// DefaultDir is where Debian's webext-ublock-origin-chromium puts the lists.
const DefaultDir = "/usr/share/chromium/extensions/ublock-origin/assets/thirdparties"

// The lists of each category, relative to the directory.
var (
	adLists      = []string{"easylist/easylist.txt"}
	trackerLists = []string{"easylist/easyprivacy.txt", "urlhaus-filter/urlhaus-filter-online.txt"}
)

// ErrMissing is a list that is not installed.
var ErrMissing = errors.New("blocklist: a filter list is missing")

// Category is a set of lists a request can ask for.
type Category int

// The categories.
const (
	Ads Category = 1 << iota
	Trackers
)

// Lists holds the parsed lists of every category; it is safe for concurrent
// use and loaded once per process.
type Lists struct {
	ads, trackers *urlfilter.Engine
	bytes         int64
}

// Check reports whether the lists are under dir, without reading them.
func Check(dir string) error {
	for _, name := range append(append([]string(nil), adLists...), trackerLists...) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%w: %s (install webext-ublock-origin-chromium, or set BLOCKLIST_DIR): %v", ErrMissing, name, err)
		}
	}
	return nil
}

// Load reads and parses the lists under dir.
func Load(dir string) (*Lists, error) {
	l := &Lists{}
	var err error
	if l.ads, err = l.engine(dir, adLists, 1); err != nil {
		return nil, err
	}
	if l.trackers, err = l.engine(dir, trackerLists, 10); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lists) engine(dir string, names []string, id int) (*urlfilter.Engine, error) {
	var lists []filterlist.Interface
	for i, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%w: %s (install webext-ublock-origin-chromium, or set BLOCKLIST_DIR): %v", ErrMissing, name, err)
		}
		l.bytes += int64(len(b))
		lists = append(lists, filterlist.NewBytes(&filterlist.BytesConfig{ID: rules.ListID(id + i), RulesText: b}))
	}
	s, err := filterlist.NewRuleStorage(lists)
	if err != nil {
		return nil, fmt.Errorf("blocklist: %w", err)
	}
	return urlfilter.NewEngine(s), nil
}

// Bytes is the size of the list files loaded.
func (l *Lists) Bytes() int64 { return l.bytes }

func (l *Lists) engines(c Category) []*urlfilter.Engine {
	var es []*urlfilter.Engine
	if c&Ads != 0 {
		es = append(es, l.ads)
	}
	if c&Trackers != 0 {
		es = append(es, l.trackers)
	}
	return es
}

// Blocked reports whether a request of type typ (Chrome's resource type:
// Script, Image, XHR, …; SubFrame for a frame's document) for target, made
// by a page at source, is blocked by the lists of c. An allow rule (@@) of
// the same list wins, as in the browsers that use them.
func (l *Lists) Blocked(c Category, target, source, typ string) bool {
	r := rules.NewRequest(target, source, requestType(typ))
	for _, e := range l.engines(c) {
		if rule := e.MatchRequest(r).GetBasicResult(); rule != nil && !rule.Whitelist {
			return true
		}
	}
	return false
}

// Hidden is the element-hiding selectors of c for a page on host: the
// generic ones and the host's own, less the host's exceptions. Extended CSS
// (:-abp-has and the like) is left out: browsers cannot parse it.
func (l *Lists) Hidden(c Category, host string) []string {
	var out []string
	for _, e := range l.engines(c) {
		res := e.GetCosmeticResult(host, rules.CosmeticOptionGenericCSS|rules.CosmeticOptionCSS)
		out = append(out, res.ElementHiding.Generic...)
		out = append(out, res.ElementHiding.Specific...)
	}
	return out
}

func requestType(typ string) rules.RequestType {
	switch strings.ToLower(typ) {
	case "document":
		return rules.TypeDocument
	case "subframe":
		return rules.TypeSubdocument
	case "script":
		return rules.TypeScript
	case "stylesheet":
		return rules.TypeStylesheet
	case "image":
		return rules.TypeImage
	case "media":
		return rules.TypeMedia
	case "font":
		return rules.TypeFont
	case "xhr", "fetch", "eventsource":
		return rules.TypeXmlhttprequest
	case "websocket":
		return rules.TypeWebsocket
	case "ping", "cspviolationreport":
		return rules.TypePing
	}
	return rules.TypeOther
}
