// Package compat runs the original Pixashot's own documented requests
// (../shared/compat beside the checkout: every example of its README, docs
// and tests, with a page server and a runner) against a build of this
// service, and holds the differences that stay to the documented list. It
// has no code of its own.
package compat
