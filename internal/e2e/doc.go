// Package e2e holds the end-to-end tests: the real service, a real Chromium,
// and real HTTP servers on loopback addresses. It has no code of its own.
package e2e
