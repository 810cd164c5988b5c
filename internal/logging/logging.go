// Package logging writes structured JSON lines that Cloud Run's log agent
// reads as Cloud Logging entries: "severity" and "message" are its field names.
package logging

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
)

// New returns a JSON logger for w at the given level. Every URL in a line
// (a message, a string, an error's text) keeps only its scheme and host.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			a = redactAttr(a)
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				a.Key = "severity"
				if lv, ok := a.Value.Any().(slog.Level); ok && lv >= slog.LevelWarn && lv < slog.LevelError {
					a.Value = slog.StringValue("WARNING")
				}
			case slog.MessageKey:
				a.Key = "message"
			case slog.TimeKey:
				a.Key = "time"
			}
			return a
		},
	}))
}

func redactAttr(a slog.Attr) slog.Attr {
	switch v := a.Value.Any().(type) {
	case string:
		a.Value = slog.StringValue(RedactURLs(v))
	case error:
		a.Value = slog.StringValue(RedactURLs(v.Error()))
	}
	return a
}

// urlPattern is an absolute URL in free text (Go's errors quote them): its
// scheme, its authority (user info and host), and the rest.
var urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^/?#\s"'<>\\]*[^\s"'<>\\]*`)

// RedactURLs keeps the scheme and host of every URL in s and drops the
// user info, path, query and fragment: a webhook's or a page's query string
// can hold its owner's tokens, and a log line is read by more people than
// the client who sent it.
func RedactURLs(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		scheme, rest, _ := strings.Cut(u, "://")
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		host := rest[strings.LastIndexByte(rest[:end], '@')+1 : end]
		if host == rest {
			return u // nothing but a host
		}
		return scheme + "://" + host + "/…"
	})
}
