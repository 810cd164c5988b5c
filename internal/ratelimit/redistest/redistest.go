// Package redistest starts a real redis-server for tests.
package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
func StartServer(t *testing.T) *Server { return start(t) }

// StartTLS runs a server that speaks only TLS and requires password, as
// Memorystore with AUTH and transit encryption does; its certificate is
// issued for no host name, by a CA made for the test (caPEM).
func StartTLS(t *testing.T, password string) (s *Server, caPEM string) {
	t.Helper()
	dir := t.TempDir()
	caPEM, certFile, keyFile := issue(t, dir)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	s = start(t, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "no", "--requirepass", password)
	return s, caPEM
}

// issue makes a CA and a server certificate signed by it.
func issue(t *testing.T, dir string) (caPEM, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), certFile, keyFile
}

func start(t *testing.T, tlsArgs ...string) *Server {
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
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	scheme := "redis"
	if len(tlsArgs) > 0 {
		args = append([]string{"--port", "0", "--tls-port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, tlsArgs...)
		scheme = "rediss"
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: scheme + "://127.0.0.1:" + port + "/0", cmd: cmd}
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
