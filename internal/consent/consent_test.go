package consent

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// The package as npm installs it from the lock file (make deps-npm).
func TestLoadInstalled(t *testing.T) {
	s, err := Load(Find(""))
	if err != nil {
		t.Fatalf("autoconsent is not installed (make deps-npm): %v", err)
	}
	if !strings.HasPrefix(s.Source, "window.autoconsentSendMessage") || !strings.Contains(s.Source, "autoconsentReceiveMessage") {
		t.Error("the source is not the shim followed by the content script")
	}
	var init struct {
		Type   string         `json:"type"`
		Config map[string]any `json:"config"`
		Rules  struct {
			Compact struct {
				V int   `json:"v"`
				R []any `json:"r"`
			} `json:"compact"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(s.InitResp), &init); err != nil {
		t.Fatal(err)
	}
	if init.Type != "initResp" || init.Config["autoAction"] != "optOut" || init.Config["isMainWorld"] != false || len(init.Rules.Compact.R) < 100 {
		t.Errorf("init: %s %v %d rules", init.Type, init.Config, len(init.Rules.Compact.R))
	}
}

func TestMissing(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v", err)
	}
	if Find("/x") != "/x" {
		t.Error("an explicit directory is used as it is")
	}
}

func TestMessages(t *testing.T) {
	m, err := Parse(`{"top":true,"m":{"type":"report","mainFrame":true,"state":{"lifecycle":"nothingDetected"}}}`)
	if err != nil || !m.Top || m.Body.Type != "report" || !Settled(m.Body.State.Lifecycle) {
		t.Fatalf("%+v %v", m, err)
	}
	for lc, want := range map[string]bool{"started": false, "cmpDetected": false, "runningOptOut": false, "optOutSucceeded": true, "optOutFailed": true, "done": true} {
		if Settled(lc) != want {
			t.Errorf("Settled(%s) != %v", lc, want)
		}
	}
	if _, err := Parse(strings.Repeat("x", MaxMessage+1)); err == nil {
		t.Error("a message over MaxMessage was read")
	}
	var resp map[string]any
	if json.Unmarshal([]byte(EvalResp(`a"b`, true)), &resp) != nil || resp["id"] != `a"b` || resp["result"] != true {
		t.Errorf("EvalResp: %v", resp)
	}
}

// bin/pixashot started from another directory finds the package above its
// own: the working directory is not where the assets are.
func TestFindBesideTheExecutable(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	got := find([]string{t.TempDir(), filepath.Join(repo, "bin")})
	if got != filepath.Join(repo, npmDir) {
		t.Fatalf("found %s", got)
	}
	if _, err := Load(got); err != nil {
		t.Fatal(err)
	}
	if find([]string{t.TempDir()}) != imageDir {
		t.Error("with nothing installed, the image's path is the answer")
	}
}
