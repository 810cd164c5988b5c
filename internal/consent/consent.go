// Package consent holds DuckDuckGo's autoconsent (the cookie-banner rules
// DuckDuckGo's browsers use, and the content script that applies them),
// as npm installs it from the committed lock file, and reads the messages
// that script sends.
package consent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Where the package is looked for when AUTOCONSENT_DIR is unset: npm's
// directory (found from the working directory upwards, so `make run` and
// the tests find it) and where the image puts it.
const (
	npmDir   = "node_modules/@duckduckgo/autoconsent"
	imageDir = "/usr/share/pixashot/autoconsent"
)

// The files used, relative to the package's directory.
const (
	scriptFile = "dist/autoconsent.playwright.js" // driven by messages, as in DuckDuckGo's Playwright runner
	rulesFile  = "rules/compact-rules.json"
)

// ErrMissing is an autoconsent package that is not installed.
var ErrMissing = errors.New("consent: autoconsent is not installed")

// BindingName is the function the script calls to send a message out; it
// exists only in the isolated world the script runs in.
const BindingName = "__pixashotConsent"

// shim adapts the script's sender (an object, any time) to a CDP binding
// (one string): the message, and whether it comes from the top frame, which
// the page cannot fake in an isolated world.
const shim = `window.autoconsentSendMessage = (m) => {
	try { ` + BindingName + `(JSON.stringify({top: window.top === window, m})); } catch (e) {}
	return Promise.resolve();
};
`

// Script is the loaded package.
type Script struct {
	Source   string // the shim and the content script, for every new document
	InitResp string // the answer to the script's init message
}

// Find returns dir, or when dir is empty the first installed location: the
// npm package in the working directory or one above it, then beside the
// executable or above it (bin/pixashot started from anywhere), then the
// image's path.
func Find(dir string) string {
	if dir != "" {
		return dir
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	return find(starts)
}

func find(starts []string) string {
	for _, start := range starts {
		for d := start; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, npmDir, scriptFile)); err == nil {
				return filepath.Join(d, npmDir)
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return imageDir
}

// Load reads the script and the rules under dir.
func Load(dir string) (*Script, error) {
	js, err := os.ReadFile(filepath.Join(dir, scriptFile))
	if err != nil {
		return nil, fmt.Errorf("%w at %s (run make deps-npm, or set AUTOCONSENT_DIR): %v", ErrMissing, dir, err)
	}
	rules, err := os.ReadFile(filepath.Join(dir, rulesFile))
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrMissing, dir, err)
	}
	if !json.Valid(rules) {
		return nil, fmt.Errorf("consent: %s is not JSON", rulesFile)
	}
	init, err := json.Marshal(map[string]any{
		"type":   "initResp",
		"config": config,
		"rules":  map[string]json.RawMessage{"compact": rules},
	})
	if err != nil {
		return nil, err
	}
	return &Script{Source: shim + string(js), InitResp: string(init)}, nil
}

// config answers every dialog with the most private choice, hides what no
// rule can answer, and gives up quickly on a page with no dialog: the
// capture waits for the verdict.
var config = map[string]any{
	"enabled":                     true,
	"autoAction":                  "optOut",
	"disabledCmps":                []string{},
	"enablePrehide":               true,
	"enableCosmeticRules":         true,
	"enableGeneratedRules":        true,
	"enableHeuristicDetection":    true,
	"heuristicMode":               "reject",
	"enablePopupMutationObserver": false,
	"detectRetries":               1, // two looks, 500 ms apart: a third waits for a DOM mutation, up to 60 s
	"isMainWorld":                 false,
	"prehideTimeout":              2000,
	"visualTest":                  false,
	"logs":                        map[string]bool{"errors": false},
}

// Message is one message of the script, as the shim sends it.
type Message struct {
	Top  bool `json:"top"`
	Body struct {
		Type      string `json:"type"`
		ID        string `json:"id"`   // eval
		Code      string `json:"code"` // eval
		Cmp       string `json:"cmp"`
		Result    bool   `json:"result"` // optOutResult
		MainFrame bool   `json:"mainFrame"`
		State     struct {
			Lifecycle string `json:"lifecycle"`
		} `json:"state"` // report
	} `json:"m"`
}

// MaxMessage is the largest message read; a report is a few hundred bytes.
const MaxMessage = 64 << 10

// Parse reads a binding payload.
func Parse(payload string) (Message, error) {
	var m Message
	if len(payload) > MaxMessage {
		return m, errors.New("consent: message too large")
	}
	err := json.Unmarshal([]byte(payload), &m)
	return m, err
}

// Settled reports whether a top frame's lifecycle means the script is done:
// it found nothing, or it answered the dialog (well or not).
func Settled(lifecycle string) bool {
	switch lifecycle {
	case "nothingDetected", "optOutSucceeded", "optOutFailed", "done":
		return true
	}
	return false
}

// EvalResp is the answer to an eval message.
func EvalResp(id string, result bool) string {
	b, _ := json.Marshal(map[string]any{"type": "evalResp", "id": id, "result": result})
	return string(b)
}
