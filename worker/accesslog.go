package worker

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/worker/accessfmt"
	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// accessLog writes one line per request (docs/config.md, log.access_log):
// to the worker's own log when the path is "-", else to a file opened for
// appending, which Reopen (USR1) reopens for logrotate. A nil *accessLog is off.
//
// Without log.access_log_format the line is a zerolog JSON line with the
// request's fields. With one, the file gets the formatted line as it is;
// "-" gets it as the message of a worker log line (the json preset as an
// "access" object in it).
type accessLog struct {
	path   string
	report func(msg string, err error) // into the worker's own log
	mu     sync.Mutex
	file   *logging.File
	log    zerolog.Logger

	format *accessfmt.Format // nil: the zerolog line
	lines  sync.Pool         // *accessLine
}

// accessLine is one request's line buffer and entry, reused.
type accessLine struct {
	b []byte
	e accessfmt.Entry
}

func openAccessLog(path, format string, lg zerolog.Logger) (*accessLog, error) {
	var f *accessfmt.Format
	if path != "" && format != "" {
		var err error
		if f, err = accessfmt.Compile(format); err != nil {
			return nil, fmt.Errorf("access log format: %w", err)
		}
	}
	switch path {
	case "":
		return nil, nil
	case "-":
		return &accessLog{path: path, format: f, log: lg.With().Str("log", "access").Logger()}, nil
	}
	a := &accessLog{path: path, format: f, report: func(msg string, err error) {
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
	self, _ := info.Self()
	if self.PID == 0 {
		self.PID = os.Getpid()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		// A handler that panics (http.ErrAbortHandler: a response cut
		// off) still gets its line, marked aborted; the panic goes on
		// unrecovered, with its own stack.
		done := false
		defer func() {
			if !done {
				a.logRequest(r, rec, start, self, true)
			}
		}()
		h.ServeHTTP(rec, r)
		done = true
		a.logRequest(r, rec, start, self, false)
	})
}

// logRequest writes the access line of one request.
func (a *accessLog) logRequest(r *http.Request, rec *recorder, start time.Time, self info.Worker, aborted bool) {
	if a.format != nil {
		end := time.Now()
		a.writeFormatted(accessfmt.Entry{
			Req: r, RespHeader: rec.header(), Status: rec.status, Bytes: rec.bytes,
			Time: end, Duration: end.Sub(start), Worker: self.ID, PID: self.PID,
			Listener: info.Protocol(r.Context()),
		})
		return
	}
	a.mu.Lock()
	l := a.log
	a.mu.Unlock()
	ev := l.Info()
	if aborted {
		ev = ev.Bool("aborted", true)
	}
	ev.Str("remote", r.RemoteAddr).
		Str("proto", info.Protocol(r.Context())).
		Str("method", r.Method).
		Str("uri", r.RequestURI).
		Int("status", rec.status).
		Int64("bytes", rec.bytes).
		Dur("duration", time.Since(start)).
		Str("referer", r.Referer()).
		Str("user_agent", r.UserAgent()).
		Msg("request")
}

// writeFormatted formats e into a pooled buffer and writes it.
func (a *accessLog) writeFormatted(e accessfmt.Entry) {
	l, _ := a.lines.Get().(*accessLine)
	if l == nil {
		l = &accessLine{b: make([]byte, 0, 512)}
	}
	l.e = e
	l.b = a.format.Append(l.b[:0], &l.e)
	if a.path == "-" {
		a.mu.Lock()
		lg := a.log
		a.mu.Unlock()
		if a.format.IsJSON() {
			lg.Info().RawJSON("access", l.b).Msg("request")
		} else {
			lg.Info().Msg(string(l.b))
		}
	} else {
		l.b = append(l.b, '\n')
		_, _ = lockedWriter{a}.Write(l.b)
	}
	l.e = accessfmt.Entry{}
	if cap(l.b) <= 64<<10 {
		a.lines.Put(l)
	}
}

// recorder captures the status and the body size, and keeps Flush and
// sendfile (ReadFrom) working through http.ResponseController's Unwrap.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	fields      []string // a WriteWhole's header fields
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

// WriteWhole passes a whole response to the writer underneath when it
// takes one (cgivars.WholeWriter), and records it.
func (r *recorder) WriteWhole(code int, fields []string, body []byte) (int, bool, error) {
	ww, ok := r.ResponseWriter.(cgivars.WholeWriter)
	if !ok || r.wroteHeader {
		return 0, false, nil
	}
	n, done, err := ww.WriteWhole(code, fields, body)
	if done {
		r.status, r.wroteHeader = code, true
		r.bytes += int64(n)
		r.fields = slices.Clone(fields) // the caller may reuse its slice
	}
	return n, done, err
}

// header is the response's header map for a log format's %({name}o)s: the
// handler's, with the fields a WriteWhole sent.
func (r *recorder) header() http.Header {
	h := r.Header()
	for i := 0; i+1 < len(r.fields); i += 2 {
		h.Add(r.fields[i], r.fields[i+1])
	}
	r.fields = nil
	return h
}

func (r *recorder) Flush() { _ = http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
