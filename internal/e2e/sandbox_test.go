package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pixashot/pixashot-cloudrun/internal/procstat"
)

// The suite runs the service as production does: not as root, and Chrome
// with its sandbox, so every renderer lives in pid and user namespaces of
// its own (NSpid lists one pid per namespace level) below this process's.
func TestRenderersAreSandboxed(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("run as root, Chrome has no sandbox: make test runs this suite as a non-root user")
	}
	e := shared
	if r := e.capture(t, opts{"html_content": "<p>sandboxed</p>", "window_width": 200, "window_height": 100}); r.status != 200 {
		t.Fatalf("capture: %d %s", r.status, r.body)
	}
	levels := func(pid int) int {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			return 0
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				return len(strings.Fields(v))
			}
		}
		return 0
	}
	self := levels(os.Getpid())
	renderers := 0
	for _, pid := range procstat.Descendants(os.Getpid()) {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if !strings.Contains(string(cmd), "--type=renderer") {
			continue
		}
		renderers++
		if l := levels(pid); l <= self {
			t.Errorf("renderer %d shares the service's pid namespace (NSpid levels %d, service %d): no sandbox", pid, l, self)
		}
	}
	if renderers == 0 {
		t.Fatal("no renderer found below the service")
	}
}
