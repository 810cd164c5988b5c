// Package faults holds the fault tests: the real pixashot binary, built
// once, started per test with its own Chrome, temp directory and loopback
// page server, then broken from outside (SIGTERM, kill -9 of its renderer or
// browser, a frozen or dead Redis, a full or read-only store) while clients
// are in flight. It has no code of its own.
package faults
