package store

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// EmulatorSigner is the identity URLs are signed as when an emulator runs
// with no key file: the emulator serves signed URLs without checking them.
const EmulatorSigner = "pixashot-local@emulator.invalid"

// LocalSigner finds a key to sign download URLs with where IAM signBlob
// cannot be reached: the service-account key file named by
// GOOGLE_APPLICATION_CREDENTIALS, or, with an emulator and no key file, a
// key made now. ok is false on Cloud Run (neither), where signBlob signs
// and no key file exists.
func LocalSigner(credentialsFile string, emulator bool) (email string, keyPEM []byte, ok bool, err error) {
	if credentialsFile != "" {
		b, err := os.ReadFile(credentialsFile)
		if err != nil {
			return "", nil, false, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		var k struct {
			Type        string `json:"type"`
			ClientEmail string `json:"client_email"`
			PrivateKey  string `json:"private_key"`
		}
		if err := json.Unmarshal(b, &k); err != nil {
			return "", nil, false, fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS: %w", err)
		}
		if k.Type == "service_account" && k.ClientEmail != "" && k.PrivateKey != "" {
			return k.ClientEmail, []byte(k.PrivateKey), true, nil
		}
		if !emulator {
			return "", nil, false, nil // user credentials: signBlob, as in production
		}
	}
	if !emulator {
		return "", nil, false, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", nil, false, err
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if der == nil {
		return "", nil, false, errors.New("cannot encode the generated key")
	}
	return EmulatorSigner, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), true, nil
}
