// Package logging writes structured JSON lines that Cloud Run's log agent
// reads as Cloud Logging entries: "severity" and "message" are its field names.
package logging

import (
	"io"
	"log/slog"
	"regexp"
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

// urlPattern is an absolute URL in free text (Go's errors quote them).
var urlPattern = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s"'<>\\]*)([^\s"'<>\\]*)`)

// RedactURLs keeps the scheme and host of every URL in s and drops the
// user info, path, query and fragment: a webhook's or a page's query string
// can hold its owner's tokens, and a log line is read by more people than
// the client who sent it.
func RedactURLs(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, func(m string) string {
		p := urlPattern.FindStringSubmatch(m)
		host := p[2]
		if i := lastAt(host); i >= 0 {
			host = host[i+1:]
		}
		if p[3] == "" && host == p[2] {
			return m
		}
		return p[1] + host + "/…"
	})
}

func lastAt(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return i
		}
	}
	return -1
}
