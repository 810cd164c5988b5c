package deploycheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type instruction struct {
	cmd   string // lower case
	flags []string
	args  []string
	json  bool // exec form
}

// stages parses the Dockerfile with buildkit's own parser into its stages.
func stages(t *testing.T) [][]instruction {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, json: n.Attributes["json"]}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			out = append(out, nil)
		}
		if in.cmd == "arg" && len(out) == 0 {
			continue // global build arguments
		}
		out[len(out)-1] = append(out[len(out)-1], in)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	st := stages(t)
	if len(st) < 2 {
		t.Fatalf("%d stages: the build and the runtime must be separate", len(st))
	}
	build, final := st[0], st[len(st)-1]
	var static bool
	for _, in := range build {
		line := strings.Join(in.args, " ")
		if in.cmd == "run" && strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(line, "-trimpath") {
			static = true
		}
	}
	if !static {
		t.Error("the build stage must build with CGO_ENABLED=0 and -trimpath")
	}
	var user, entry string
	var entryJSON bool
	for _, s := range st {
		for _, in := range s {
			if in.cmd == "add" {
				t.Errorf("ADD %v: use COPY (no remote or archive magic)", in.args)
			}
		}
	}
	for _, in := range final {
		switch in.cmd {
		case "user":
			user = in.args[0]
		case "entrypoint":
			entry, entryJSON = strings.Join(in.args, " "), in.json
		case "copy":
			if !strings.HasPrefix(strings.Join(in.flags, " "), "--from=") {
				t.Errorf("the runtime copies %v from the context: only the build's binary belongs there", in.args)
			}
		case "run":
			line := strings.Join(in.args, " ")
			for _, pkg := range []string{"chromium-headless-shell", "tini", "fonts-noto-cjk", "fonts-noto-color-emoji", "webext-ublock-origin-chromium"} {
				if strings.Contains(line, "apt-get install") && !strings.Contains(line, pkg) {
					t.Errorf("the runtime does not install %s", pkg)
				}
			}
		}
	}
	// block_cookie_banners' script and rules, and their licence, come from
	// the npm stage.
	var copied string
	for _, in := range final {
		if in.cmd == "copy" {
			copied += strings.Join(in.args, " ") + " "
		}
	}
	for _, f := range []string{"autoconsent/dist/autoconsent.playwright.js", "autoconsent/rules/compact-rules.json", "autoconsent/LICENSE"} {
		if !strings.Contains(copied, f) {
			t.Errorf("the runtime does not copy %s", f)
		}
	}
	if uid := strings.SplitN(user, ":", 2)[0]; user == "" || uid == "root" || uid == "0" {
		t.Errorf("USER %q: the runtime must not run as root", user)
	}
	if !entryJSON || !strings.Contains(entry, "tini") || !strings.HasSuffix(entry, "/usr/local/bin/pixashot") {
		t.Errorf("ENTRYPOINT %q (exec form %v): tini as PID 1 running the service", entry, entryJSON)
	}
}
