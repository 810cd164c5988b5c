// Package durable writes small files that exist whole or not at all and
// survive a crash once written: the embedded queue's tasks and the
// embedded clock's schedules.
package durable

import (
	"os"
)

// WriteFile writes data to name through a synced temporary file renamed
// over it: a crash leaves the old file or the new one, never a torn one
// (a stray name.tmp at most, which readers skip).
func WriteFile(name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// SyncDir makes the renames and removals in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
