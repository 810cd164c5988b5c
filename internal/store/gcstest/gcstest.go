// Package gcstest runs fake-gcs-server in-process for tests that reach it
// through the real Cloud Storage client, and makes the key that stands in
// for a service account's when signing URLs.
package gcstest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"strconv"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Bucket exists on every emulator Start makes.
const Bucket = "pixashot-test"

// SignerEmail is the service account the test key pretends to belong to.
const SignerEmail = "pixashot-run@test-project.iam.gserviceaccount.com"

// Emulator is a running fake-gcs-server.
type Emulator struct {
	*fakestorage.Server
	Host string // host:port, the value of STORAGE_EMULATOR_HOST
}

// Start starts an emulator on a loopback port that also serves signed URLs
// (its public host is its own address); it stops when t ends.
func Start(t testing.TB) *Emulator {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	host := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(port), PublicHost: host,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: Bucket})
	t.Cleanup(srv.Stop)
	return &Emulator{Server: srv, Host: host}
}

// SigningKey is a fresh RSA key and its PEM form.
func SigningKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}
