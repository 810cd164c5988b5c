package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a.json")
	for _, want := range []string{`{"v":1}`, `{"v":2}`} { // a new file, then one replaced
		if err := WriteFile(name, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(name); err != nil || string(b) != want {
			t.Fatalf("%s: %q %v", want, b, err)
		}
	}
	// A stray temporary file (a crash before its rename) is written over.
	os.WriteFile(name+".tmp", []byte("torn"), 0o600) //nolint:errcheck // checked by the write below
	if err := WriteFile(name, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file stays: %v", err)
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A write that cannot happen leaves nothing behind.
	if err := WriteFile(filepath.Join(dir, "missing", "b.json"), []byte("x")); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
	if err := SyncDir(dir); err != nil {
		t.Error(err)
	}
}
