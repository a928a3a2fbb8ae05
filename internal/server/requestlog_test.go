package server

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"testing"
)

// A request's logger writes what log.With("client_ip", ip) wrote: the
// address first among the line's attributes, in text and JSON, on
// loggers derived with With and WithGroup too.
func TestRequestLoggerWritesAsWith(t *testing.T) {
	stamp := regexp.MustCompile(`(time=|"time":")[^ "]+`)
	uses := map[string]func(l *slog.Logger){
		"info": func(l *slog.Logger) {
			l.Info("recovery flow created", "flow_id", "f1", "flow_type", "api", "method", "code")
		},
		"attrs": func(l *slog.Logger) {
			l.LogAttrs(context.Background(), slog.LevelWarn, "m", slog.String("a", "x y"), slog.Int("n", 1), slog.Group("g", "k", "v"))
		},
		"many attrs": func(l *slog.Logger) { l.Error("m", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6, "g", 7) },
		"none":       func(l *slog.Logger) { l.Info("no attributes") },
		"with":       func(l *slog.Logger) { l.With("component", "courier").Info("m", "k", "v") },
		"with group": func(l *slog.Logger) { l.WithGroup("req").Info("m", "k", "v") },
		"debug off":  func(l *slog.Logger) { l.Debug("not written", "k", "v") },
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	}
	for hname, newHandler := range handlers {
		for uname, use := range uses {
			t.Run(hname+"/"+uname, func(t *testing.T) {
				var want, got bytes.Buffer
				use(slog.New(newHandler(&want)).With("client_ip", "192.0.2.7"))
				use(newRequestLogger(slog.New(newHandler(&got)), "192.0.2.7"))
				w, g := stamp.ReplaceAllString(want.String(), "$1T"), stamp.ReplaceAllString(got.String(), "$1T")
				if g != w {
					t.Fatalf("got  %s\nwant %s", g, w)
				}
			})
		}
	}
}
