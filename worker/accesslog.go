package worker

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// accessLog writes one JSON line per request (docs/config.md, log.access_log):
// to the worker's own log when the path is "-", else to a file opened for
// appending, which Reopen (USR1) reopens for logrotate. A nil *accessLog is off.
type accessLog struct {
	path   string
	report func(msg string, err error) // into the worker's own log
	mu     sync.Mutex
	file   *logging.File
	log    zerolog.Logger
}

func openAccessLog(path string, lg zerolog.Logger) (*accessLog, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return &accessLog{path: path, log: lg.With().Str("log", "access").Logger()}, nil
	}
	a := &accessLog{path: path, report: func(msg string, err error) {
		lg.Error().Err(err).Str("log", "access").Msg(msg)
	}}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *accessLog) open() error {
	f, err := logging.OpenFile(a.path, a.report)
	if err != nil {
		return fmt.Errorf("open access log: %w", err)
	}
	a.mu.Lock()
	old := a.file
	a.file = f
	a.log = zerolog.New(lockedWriter{a}).With().Int("pid", os.Getpid()).Logger()
	a.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Reopen reopens the file (after logrotate moved it). On failure the old file
// is kept and the error is written to it.
func (a *accessLog) Reopen() {
	if a == nil || a.path == "-" {
		return
	}
	if err := a.open(); err != nil {
		a.log.Error().Err(err).Msg("reopen access log failed; still writing to the old file")
	}
}

func (a *accessLog) Close() {
	if a == nil || a.file == nil {
		return
	}
	a.mu.Lock()
	a.file.Close()
	a.file = nil
	a.mu.Unlock()
}

type lockedWriter struct{ a *accessLog }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	if w.a.file == nil {
		return 0, os.ErrClosed
	}
	return w.a.file.Write(p)
}

func (a *accessLog) wrap(h http.Handler) http.Handler {
	if a == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		a.mu.Lock()
		l := a.log
		a.mu.Unlock()
		l.Info().
			Str("remote", r.RemoteAddr).
			Str("proto", info.Protocol(r.Context())).
			Str("method", r.Method).
			Str("uri", r.RequestURI).
			Int("status", rec.status).
			Int64("bytes", rec.bytes).
			Dur("duration", time.Since(start)).
			Str("referer", r.Referer()).
			Str("user_agent", r.UserAgent()).
			Msg("request")
	})
}

// recorder captures the status and the body size, and keeps Flush and
// sendfile (ReadFrom) working through http.ResponseController's Unwrap.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	n, err := io.Copy(r.ResponseWriter, src)
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
