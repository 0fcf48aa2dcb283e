package controller

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
)

// slogSink lets libovsdb (which logs through logr) write to the daemon's slog
// logger. libovsdb's V(n) levels are chatty at n >= 3; they become Debug.
type slogSink struct {
	l    *slog.Logger
	name string
}

func newLogr(l *slog.Logger, name string) logr.Logger {
	return logr.New(&slogSink{l: l, name: name})
}

func (s *slogSink) Init(logr.RuntimeInfo) {}

func (s *slogSink) Enabled(level int) bool {
	return s.l.Enabled(context.Background(), s.level(level))
}

func (s *slogSink) level(v int) slog.Level {
	if v >= 5 {
		return slog.LevelDebug - 4
	}
	if v >= 3 {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func (s *slogSink) Info(level int, msg string, kv ...any) {
	s.l.Log(context.Background(), s.level(level), msg, append([]any{"lib", s.name}, kv...)...)
}

func (s *slogSink) Error(err error, msg string, kv ...any) {
	// libovsdb reports every failed reconnect attempt as an error; the
	// controller logs the connection state itself, so these are warnings.
	s.l.Warn(msg, append([]any{"lib", s.name, "err", err}, kv...)...)
}

func (s *slogSink) WithValues(kv ...any) logr.LogSink {
	return &slogSink{l: s.l.With(kv...), name: s.name}
}

func (s *slogSink) WithName(name string) logr.LogSink {
	return &slogSink{l: s.l, name: s.name + "/" + name}
}
