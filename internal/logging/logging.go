// Package logging writes structured JSON lines that Cloud Run's log agent
// reads as Cloud Logging entries: "severity" and "message" are its field names.
package logging

import (
	"io"
	"log/slog"
)

// New returns a JSON logger for w at the given level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
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
