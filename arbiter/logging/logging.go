// Package logging builds the master's zerolog sink: JSON lines when stderr is
// not a terminal (or format = "json"), readable lines on a terminal, to
// stderr or a file that Reopen (USR1) reopens. Workers always log JSON to
// their stderr, a pipe the master reads (see Capture); their lines land in
// the same sink with their pid, worker and generation fields.
package logging

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

// Sink is where the master's and the workers' log lines end up. It is safe
// for concurrent use; every Write is one whole line.
type Sink struct {
	mu      sync.Mutex
	file    *File // nil when writing to stderr
	out     io.Writer
	console bool
	pretty  zerolog.ConsoleWriter
}

// Open returns the sink cfg describes. stderr is the process's stderr.
func Open(cfg config.Log, stderr *os.File) (*Sink, error) {
	s := &Sink{out: stderr}
	if cfg.File != "" {
		// What goes wrong with the file is said on stderr (a journal, a
		// terminal), since the file may be where it cannot be said.
		f, err := OpenFile(cfg.File, func(msg string, err error) {
			_, _ = stderr.Write(notice("error", msg, map[string]any{"error": err.Error()}))
		})
		if err != nil {
			return nil, err
		}
		s.file, s.out = f, f
	}
	switch cfg.Format {
	case "console":
		s.console = true
	case "json":
	default: // auto
		s.console = cfg.File == "" && isatty.IsTerminal(stderr.Fd())
	}
	s.pretty = zerolog.ConsoleWriter{Out: lockedOut{s}, TimeFormat: "15:04:05.000", NoColor: cfg.File != ""}
	return s, nil
}

// Write writes one JSON log event (what zerolog produces, or a JSON line a
// worker wrote), rendered for a terminal when the sink is in console mode.
func (s *Sink) Write(p []byte) (int, error) {
	if s.console {
		if _, err := s.pretty.Write(p); err != nil {
			// Not JSON after all: write it as it is.
			return s.writeRaw(p)
		}
		return len(p), nil
	}
	return s.writeRaw(p)
}

func (s *Sink) writeRaw(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

type lockedOut struct{ s *Sink }

func (l lockedOut) Write(p []byte) (int, error) { return l.s.writeRaw(p) }

// Reopen reopens the log file (after logrotate moved it). With no file it
// does nothing. On failure the old file stays in use.
func (s *Sink) Reopen() error {
	if s.file == nil {
		return nil
	}
	return s.file.Reopen()
}

// Close closes the log file, if any.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file, s.out = nil, os.Stderr
	return err
}

// Logger returns a zerolog logger writing to s at the given level name
// (an unknown name means info).
func (s *Sink) Logger(level string) zerolog.Logger {
	return zerolog.New(s).Level(ParseLevel(level)).With().Timestamp().Logger()
}

// ParseLevel maps a config level name to zerolog's; unknown names are info.
func ParseLevel(name string) zerolog.Level {
	l, err := zerolog.ParseLevel(name)
	if err != nil || name == "" {
		return zerolog.InfoLevel
	}
	return l
}

func init() {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
}
