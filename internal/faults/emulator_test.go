package faults

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The documented local setup, as a user runs it: fake-gcs-server as its own
// process on loopback, the binary with BUCKET and STORAGE_EMULATOR_HOST.
// response_type url gives a URL that downloads the bytes from the emulator
// (signed with a key made at start: no IAM here), and the owner can GET a
// fresh link and DELETE it.
func TestCloudStorageEmulatorEndToEnd(t *testing.T) {
	dir := t.TempDir()
	fgs := filepath.Join(dir, "fake-gcs-server")
	build := exec.Command("go", "build", "-o", fgs, "github.com/fsouza/fake-gcs-server")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fake-gcs-server: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "pixashot-local"), 0o700); err != nil { // one folder, one bucket
		t.Fatal(err)
	}
	port := strconv.Itoa(freePort(t))
	emu := exec.Command(fgs, "-scheme", "http", "-host", "127.0.0.1", "-port", port,
		"-public-host", "127.0.0.1:"+port, "-backend", "memory", "-data", data, "-log-level", "error")
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Process.Kill(); emu.Wait() })
	if !waitFor(10*time.Second, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + port + "/storage/v1/b/pixashot-local")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}) {
		t.Fatal("fake-gcs-server did not start with the bucket")
	}

	s := start(t, "BUCKET=pixashot-local", "STORAGE_EMULATOR_HOST=127.0.0.1:"+port)
	r := s.capture(map[string]any{"url": s.page + "/", "window_width": 64, "window_height": 48, "response_type": "url"})
	var link struct {
		ID, URL string
		Bytes   int
	}
	if r.status != 201 || json.Unmarshal(r.body, &link) != nil {
		t.Fatalf("response_type url against the emulator: %d %s", r.status, r.body)
	}
	download := func(u string) (int, []byte) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, png := download(link.URL)
	if code != 200 || len(png) != link.Bytes || string(png[1:4]) != "PNG" {
		t.Fatalf("the download URL %s: %d, %d bytes (want %d)", link.URL, code, len(png), link.Bytes)
	}
	g := s.do("GET", "/captures/"+link.ID, nil)
	var again struct{ URL string }
	if g.status != 200 || json.Unmarshal(g.body, &again) != nil {
		t.Fatalf("owner GET: %d %s", g.status, g.body)
	}
	if code, b := download(again.URL); code != 200 || len(b) != link.Bytes {
		t.Fatalf("the fresh URL: %d", code)
	}
	if d := s.do("DELETE", "/captures/"+link.ID, nil); d.status != 204 {
		t.Fatalf("DELETE: %d %s", d.status, d.body)
	}
	if g := s.do("GET", "/captures/"+link.ID, nil); g.status != 404 {
		t.Fatalf("GET after DELETE: %d", g.status)
	}
	if code, _ := download(link.URL); code == 200 {
		t.Fatal("the object is still downloadable after DELETE")
	}
}
