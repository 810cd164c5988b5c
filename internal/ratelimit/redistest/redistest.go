// Package redistest starts a real redis-server for tests.
package redistest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process of one test.
type Server struct {
	URL string
	cmd *exec.Cmd
}

// Stop kills the server (it also ends with the test).
func (s *Server) Stop() { s.cmd.Process.Kill(); s.cmd.Wait() } //nolint:errcheck // already gone is fine

// Freeze stops the process without closing its socket: connections are
// accepted by the kernel and never answered, as with a hung server.
func (s *Server) Freeze() { s.cmd.Process.Signal(syscall.SIGSTOP) } //nolint:errcheck

// Thaw lets a frozen server run again.
func (s *Server) Thaw() { s.cmd.Process.Signal(syscall.SIGCONT) } //nolint:errcheck

// Start runs a real redis-server on a free loopback port for the test; stop
// ends it early (it also ends with the test).
func Start(t *testing.T) (url string, stop func()) {
	s := StartServer(t)
	return s.URL, s.Stop
}

// StartServer is Start with control over the process.
func StartServer(t *testing.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs it")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "redis://127.0.0.1:" + port + "/0", cmd: cmd}
	t.Cleanup(func() { s.Thaw(); s.Stop() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
	return s
}
