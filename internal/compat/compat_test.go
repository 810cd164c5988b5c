package compat

import (
	"github.com/pixashot/pixashot-cloudrun/internal/consent"

	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// expected are the runner's FAIL lines that stay, each with its reason
// (docs/compatibility.md says the same to users). Anything else failing is a
// regression; an id listed here that passes is fine.
var expected = map[string]string{
	// Security differences.
	"P-sig1": "a signed URL needs expires",
	"P-sig2": "a signed URL expires at most 24 h ahead",
	"P-tls1": "ignore_https_errors defaults to false: a self-signed target is a 502",
	"H1":     "/health shows checks (memory, CPU) only to a caller with a valid token",
	"H2":     "as H1",
	"H3":     "as H1",
	// Where this service answers as its contract says, not as the original did.
	"U3":     "a target that refuses the connection is a 502 NavigationError (the original's test mocks a 500)",
	"CO-v3":  "iphone_13 is a device preset here (1170×2532); the original ignored the name (1920×1080)",
	"P-beh1": "a selector that matches nothing is a 400, not a page screenshot",
	"P-beh2": "a wait_for_selector that never matches is a 504, not a capture anyway",
	"P-beh3": "a throwing custom_js is a 400 naming it, not a capture anyway",
	"P-beh4": "a click on a missing element is a 504 within wait_for_timeout",
	"P-beh5": "a refused connection is a 502 NavigationError",
	"P-beh6": "the same over https",
	"RH-1":   "response_type json carries the page's metadata beside file and format (the runner wants exactly those two keys)",
	// Informational: the runner runs with RATE_LIMIT=0, so there are no
	// rate-limit headers to see; with a limit the 400 carries them (server tests).
	"GS-c1": "informational",
}

var failLine = regexp.MustCompile(`^FAIL: (\S+) `)

func TestOriginalPixashotCorpus(t *testing.T) {
	runner, err := filepath.Abs("../../../shared/compat/run-compat")
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("PIXASHOT_COMPAT_DIR"); dir != "" {
		runner = filepath.Join(dir, "run-compat")
	}
	if _, err := os.Stat(runner); err != nil {
		// The corpus lives beside the repository, not in it; a checkout
		// without it (a fork, a laptop) skips, and says so.
		t.Skipf("the compatibility corpus is not beside this checkout (%v); set PIXASHOT_COMPAT_DIR", err)
	}
	for _, tool := range []string{"python3", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the corpus runner needs %s", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the corpus's page server listens on 127.0.0.2:443 (root)")
	}
	bin := filepath.Join(t.TempDir(), "pixashot")
	if out, err := exec.Command("go", "build", "-o", bin, "../../function/cmd/pixashot").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	run := exec.Command("bash", runner, bin)
	// The runner starts the service in a directory of its own, where npm's
	// node_modules is not found: use_cookie_blocker needs autoconsent.
	// It runs as root (port 443), where Chrome has no sandbox.
	run.Env = append(os.Environ(), "AUTOCONSENT_DIR="+consent.Find(""), "CHROME_NO_SANDBOX=true")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the runner: %v\n%s", err, out)
	}
	var summary string
	var unexpected []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := failLine.FindStringSubmatch(line); m != nil {
			if _, ok := expected[m[1]]; !ok {
				unexpected = append(unexpected, line)
			}
		}
		if strings.HasSuffix(line, " failed") && strings.Contains(line, " passed, ") {
			summary = line
		}
	}
	if summary == "" {
		t.Fatalf("the runner printed no summary:\n%s", out)
	}
	t.Logf("original Pixashot corpus: %s (the rest are the documented differences)", summary)
	for _, l := range unexpected {
		t.Errorf("an incompatibility that is not a documented difference: %s", l)
	}
}
