package imagetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SIGTERM with captures in flight, then SIGKILL after Cloud Run's grace:
// every capture in flight finishes, and the service exits by itself.
func TestSIGTERMFinishesCapturesInFlight(t *testing.T) {
	b := run(t, boxOptions{})
	for len(pages.slow) > 0 {
		<-pages.slow
	}
	const n = 4
	var wg sync.WaitGroup
	replies := make([]reply, n)
	for i := range n {
		wg.Go(func() {
			replies[i] = b.call("POST", "/capture", map[string]any{"url": pages.base + "/slow?ms=3000", "window_width": 100, "window_height": 100})
		})
	}
	for range n { // all four are at the page, so in flight
		select {
		case <-pages.slow:
		case <-time.After(defaults.CaptureTimeout):
			t.Fatal("the captures did not reach the page")
		}
	}
	if out, err := podman("stop", "-t", "10", b.name); err != nil {
		t.Fatalf("podman stop: %v %s", err, out)
	}
	wg.Wait()
	for i, r := range replies {
		if r.status != 200 {
			t.Errorf("capture %d in flight at SIGTERM: %s", i, r)
		}
	}
	code, _ := podman("inspect", "--format", "{{.State.ExitCode}}", b.name)
	logs := b.logs()
	if code != "0" || !strings.Contains(logs, `"event":"shutdown"`) {
		t.Errorf("exit code %s (want 0, not SIGKILL's 137); log:\n%s", code, b.tail(10))
	}
}

// bomb allocates 4 GB in 10 MB ArrayBuffers, outside V8's heap, in a
// container of 2 GiB.
const bomb = `const a=[];for(let i=0;i<400;i++){a.push(new Uint8Array(10*1024*1024).fill(i))} a.length`

// A page that grows memory: the service's watchdog ends its renderer before
// the cgroup's OOM killer acts, and the service keeps serving.
func TestMemoryWatchdogActsBeforeTheOOMKiller(t *testing.T) {
	b := run(t, boxOptions{})
	r := b.call("POST", "/capture", map[string]any{"html_content": "<p>x</p>", "custom_js": bomb})
	if r.status != 502 || !strings.Contains(string(r.body), "NavigationError") {
		t.Errorf("the bomb answered %s", r)
	}
	if !b.running() {
		t.Fatal("the container died")
	}
	oom, _ := podman("inspect", "--format", "{{.State.OOMKilled}}", b.name)
	if oom != "false" {
		t.Errorf("OOMKilled: %s", oom)
	}
	logs := b.logs()
	if !strings.Contains(logs, `"event":"renderer_memory_exceeded"`) {
		t.Errorf("the watchdog did not end the renderer:\n%s", b.tail(15))
	}
	if strings.Contains(logs, `"event":"browser_died"`) {
		t.Error("Chrome's browser process died (killed by the kernel, not by the watchdog)")
	}
	b.image(map[string]any{"url": pages.base + "/color?c=00ff00", "window_width": 50, "window_height": 50})
}

// /tmp full: what needs the disk answers a clear 503 and leaves nothing
// behind; once there is room again, the same requests succeed.
func TestFullTmpAnswers503(t *testing.T) {
	b := run(t, boxOptions{tmpSize: "256m"})
	files := func() map[string]bool {
		out, err := b.exec("find /tmp/pixashot -type f")
		if err != nil {
			t.Fatal(out)
		}
		m := map[string]bool{}
		for _, f := range strings.Fields(out) {
			m[f] = true
		}
		return m
	}
	stored := map[string]any{"url": pages.base + "/color?c=00ff00", "window_width": 300, "window_height": 300, "response_type": "url"}
	queued := map[string]any{"url": pages.base + "/color?c=00ff00", "window_width": 300, "window_height": 300}
	if r := b.call("POST", "/capture", stored); r.status != 201 {
		t.Fatalf("before: %s", r)
	}
	before := files()
	// What is left of /tmp is filled by the service's own user.
	b.exec("cat /dev/zero > /tmp/fill") //nolint:errcheck // ends with ENOSPC by design
	if out, _ := b.exec("df -k /tmp | tail -1"); !strings.Contains(out, "100%") {
		t.Fatalf("/tmp is not full: %s", out)
	}
	if r := b.call("POST", "/capture", stored); r.status != 503 || !strings.Contains(string(r.body), "storage is full") {
		t.Errorf("POST /capture (response_type url) with /tmp full: %s", r)
	}
	r := b.call("POST", "/captures", queued)
	if r.status != 503 || !strings.Contains(string(r.body), "storage is full") {
		t.Errorf("POST /captures with /tmp full: %s", r)
	}
	after := files()
	for f := range after {
		if !before[f] {
			t.Errorf("left behind: %s", f)
		}
	}
	if !b.running() {
		t.Fatal("the container died")
	}
	b.exec("rm -f /tmp/fill") //nolint:errcheck // checked by what follows
	if r := b.call("POST", "/capture", stored); r.status != 201 {
		t.Errorf("with room again: %s", r)
	}
}

// A runtime that refuses user namespaces (Docker's default seccomp profile
// denies unshare and clone(CLONE_NEWUSER)): the service does not start,
// says why once with the remedy, and starts with CHROME_NO_SANDBOX=true,
// saying so. gVisor applies no OCI seccomp profile unless told to, so the
// attack runs under crun.
func TestRuntimeThatRefusesTheSandbox(t *testing.T) {
	if runtimeName == "runsc" {
		t.Skip("gVisor ignores the container's seccomp profile by default; the refusal is tested under crun")
	}
	profile := filepath.Join(t.TempDir(), "no-userns.json")
	if err := os.WriteFile(profile, noUserNamespaces(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b := run(t, boxOptions{seccomp: profile, noReady: true})
	deadline := time.Now().Add(startBound)
	for b.running() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if b.running() {
		t.Fatal("the service started without its sandbox")
	}
	logs := b.logs()
	if n := strings.Count(logs, `"event":"chrome_sandbox_unavailable"`); n != 1 || !strings.Contains(logs, "CHROME_NO_SANDBOX=true") {
		t.Errorf("%d chrome_sandbox_unavailable events; log:\n%s", n, logs)
	}
	if code, _ := podman("inspect", "--format", "{{.State.ExitCode}}", b.name); code == "0" {
		t.Error("exit code 0 for a failed start")
	}

	o := run(t, boxOptions{seccomp: profile, env: map[string]string{"CHROME_NO_SANDBOX": "true"}})
	o.image(map[string]any{"html_content": "<p>x</p>", "window_width": 100, "window_height": 100})
	if logs := o.logs(); !strings.Contains(logs, `"event":"chrome_sandbox_off"`) || !strings.Contains(logs, `"sandbox":false`) {
		t.Errorf("no word of the sandbox being off:\n%s", o.tail(10))
	}
}

// noUserNamespaces is the runtime's own default profile with Docker's rule
// added: no unshare, no clone with CLONE_NEWUSER, and clone3 answered
// ENOSYS so that libc falls back to clone, where the flag can be seen.
func noUserNamespaces(t *testing.T) []byte {
	raw, err := os.ReadFile("/usr/share/containers/seccomp.json")
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	const newUser = 0x10000000
	var rules []any
	for _, r := range p["syscalls"].([]any) {
		rule := r.(map[string]any)
		var keep []any
		for _, n := range rule["names"].([]any) {
			if n != "clone" && n != "clone3" && n != "unshare" {
				keep = append(keep, n)
			}
		}
		if len(keep) == 0 {
			continue
		}
		rule["names"] = keep
		rules = append(rules, rule)
	}
	masked := func(v int) []any {
		return []any{map[string]any{"index": 0, "value": newUser, "valueTwo": v, "op": "SCMP_CMP_MASKED_EQ"}}
	}
	rules = append(rules,
		map[string]any{"names": []any{"clone"}, "action": "SCMP_ACT_ALLOW", "args": masked(0)},
		map[string]any{"names": []any{"clone"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": masked(newUser)},
		map[string]any{"names": []any{"unshare"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
		map[string]any{"names": []any{"clone3"}, "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
	)
	p["syscalls"] = rules
	out, _ := json.Marshal(p)
	return out
}
