package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/ipc"
)

// cancelGrace is how long a handler whose request_timeout passed has to
// return once its context is cancelled. Go cannot stop a goroutine: one
// still running after it is stuck for good, and the worker is replaced.
const cancelGrace = time.Second

// errRequestTimeout is the cause of a handler's context cancelled by
// request_timeout (context.Cause).
var errRequestTimeout = errors.New("request_timeout")

// guard enforces request_timeout and slow_request_log on an app that runs
// in the worker's own goroutines (go, static, echo).
//
//   - With a timeout, the handler runs in a goroutine of its own and writes
//     through a guardedWriter. Past the timeout, the goroutine's stack is
//     logged, its context is cancelled with errRequestTimeout, and the
//     client gets 504, or, when the response had begun, a cut connection
//     (http.ErrAbortHandler). Writes after that fail with
//     http.ErrHandlerTimeout. A handler that has not returned cancelGrace
//     later makes the worker ask for its replacement (stuck), after its
//     stack is logged again.
//   - With slow, a request still running after it is logged once, with the
//     stack of the goroutine running the handler, while it runs.
//   - A handler blocked writing to a client that does not read holds up
//     the timeout until the write fails (write_timeout, the client gone):
//     the serving goroutine must not return while the handler writes.
//   - A handler panic is raised again in the serving goroutine, with the
//     stack it had, so the protocol server recovers it as before.
//   - Hijack is not offered while a timeout is set.
type guard struct {
	h       http.Handler
	timeout time.Duration // request_timeout; 0 = none
	slow    time.Duration // slow_request_log; 0 = off
	log     zerolog.Logger
	stuck   func(reason string) // asks the master for a replacement worker
}

// newGuard wraps h, or returns it as it is when neither limit is set.
func newGuard(h http.Handler, timeout, slow time.Duration, log zerolog.Logger, stuck func(string)) http.Handler {
	if timeout <= 0 && slow <= 0 {
		return h
	}
	if slow >= timeout && timeout > 0 {
		slow = 0 // the timeout's own log line says it all
	}
	return &guard{h: h, timeout: timeout, slow: slow, log: log, stuck: stuck}
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if g.timeout <= 0 {
		g.serveSlowOnly(w, r, start)
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	gw := &guardedWriter{w: w, h: make(http.Header)}
	done := make(chan *handlerPanic, 1) // buffered: a handler that returns late blocks on nothing
	gid := make(chan int64, 1)
	go func() {
		gid <- goid()
		var p *handlerPanic
		defer func() { done <- p }()
		defer func() {
			if v := recover(); v != nil {
				p = &handlerPanic{v: v, stack: debug.Stack()}
			}
		}()
		g.h.ServeHTTP(gw, r.WithContext(ctx))
	}()
	id := <-gid
	timer := time.NewTimer(g.timeout)
	defer timer.Stop()
	var slowC <-chan time.Time
	if g.slow > 0 {
		st := time.NewTimer(g.slow)
		defer st.Stop()
		slowC = st.C
	}
	for {
		select {
		case p := <-done:
			p.raise()
			return
		case <-slowC:
			g.logSlow(r, id, start, func() bool { return len(done) > 0 })
		case <-timer.C:
			g.expire(w, r, gw, id, start, cancel, done)
			return
		}
	}
}

// expire ends a request past its timeout: the log line with the handler's
// stack, the cancelled context, the 504 or the cut connection, and a
// watch on whether the handler returns.
func (g *guard) expire(w http.ResponseWriter, r *http.Request, gw *guardedWriter, id int64, start time.Time,
	cancel context.CancelCauseFunc, done chan *handlerPanic) {
	stack := goroutineStack(id)
	began := gw.expire()
	cancel(errRequestTimeout)
	g.log.Error().Str("method", r.Method).Str("uri", r.RequestURI).Dur("request_timeout", g.timeout).
		Dur("elapsed", time.Since(start)).Bool("response_begun", began).Str("stack", stack).
		Msg("request ran past request_timeout; cancelled its context")
	go g.watch(r, id, done)
	if began {
		panic(http.ErrAbortHandler) // the client must not take a cut body for a whole one
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusGatewayTimeout)
	fmt.Fprintln(w, "504 gateway timeout")
}

// watch waits cancelGrace for a cancelled handler to return; one that does
// not is stuck, and the worker asks to be replaced.
func (g *guard) watch(r *http.Request, id int64, done chan *handlerPanic) {
	t := time.NewTimer(cancelGrace)
	defer t.Stop()
	select {
	case p := <-done:
		if p != nil && p.v != http.ErrAbortHandler {
			g.log.Error().Str("uri", r.RequestURI).Str("panic", fmt.Sprint(p.v)).Str("stack", string(p.stack)).
				Msg("handler panicked after its request_timeout")
		}
		return
	case <-t.C:
	}
	g.log.Error().Str("method", r.Method).Str("uri", r.RequestURI).Dur("grace", cancelGrace).
		Str("stack", goroutineStack(id)).
		Msg("handler did not return after its request_timeout cancelled its context; replacing the worker")
	g.stuck(ipc.RecycleRequestTimeout)
}

// serveSlowOnly serves in the calling goroutine, with only the slow log.
func (g *guard) serveSlowOnly(w http.ResponseWriter, r *http.Request, start time.Time) {
	id := goid()
	var finished atomic.Bool
	t := time.AfterFunc(g.slow, func() { g.logSlow(r, id, start, finished.Load) })
	defer func() {
		finished.Store(true)
		t.Stop()
	}()
	g.h.ServeHTTP(w, r)
}

// logSlow logs a request past slow_request_log with the stack of goroutine
// id, unless finished says the handler returned meanwhile (the stack would
// then be of something else).
func (g *guard) logSlow(r *http.Request, id int64, start time.Time, finished func() bool) {
	if finished() {
		return
	}
	stack := goroutineStack(id)
	if finished() {
		return
	}
	g.log.Warn().Str("method", r.Method).Str("uri", r.RequestURI).Dur("slow_request_log", g.slow).
		Dur("elapsed", time.Since(start)).Str("stack", stack).Msg("slow request")
}

// handlerPanic is a panic recovered in a guarded handler's goroutine.
type handlerPanic struct {
	v     any
	stack []byte
}

// raise panics again with p, in the serving goroutine; nil does nothing.
// http.ErrAbortHandler stays itself; anything else carries the stack of
// the goroutine it came from.
func (p *handlerPanic) raise() {
	switch {
	case p == nil:
	case p.v == http.ErrAbortHandler:
		panic(p.v)
	default:
		panic(fmt.Sprintf("%v\n\nin the handler's goroutine:\n%s", p.v, p.stack))
	}
}

// guardedWriter is the ResponseWriter of a handler with a timeout. Every
// call reaches the real writer under mu, so that once expire returns the
// handler can no longer touch it and the serving goroutine may answer and
// return. The handler's header map is its own, copied when the header is
// written.
type guardedWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	h       http.Header
	wrote   bool // the final header went out
	expired bool
}

func (gw *guardedWriter) Header() http.Header { return gw.h }

func (gw *guardedWriter) WriteHeader(code int) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	gw.writeHeaderLocked(code)
}

func (gw *guardedWriter) writeHeaderLocked(code int) {
	if gw.expired || gw.wrote {
		return
	}
	dst := gw.w.Header()
	for k, v := range gw.h {
		dst[k] = append([]string(nil), v...)
	}
	gw.w.WriteHeader(code)
	if code >= 200 || code == http.StatusSwitchingProtocols {
		gw.wrote = true
	}
}

func (gw *guardedWriter) Write(b []byte) (int, error) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.expired {
		return 0, http.ErrHandlerTimeout
	}
	gw.writeHeaderLocked(http.StatusOK)
	return gw.w.Write(b)
}

// Flush sends what is buffered, as the real writer's Flush does.
func (gw *guardedWriter) Flush() {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.expired {
		return
	}
	gw.writeHeaderLocked(http.StatusOK)
	if f, ok := gw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// expire cuts the handler off the real writer and reports whether the
// response had begun.
func (gw *guardedWriter) expire() bool {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	gw.expired = true
	return gw.wrote
}
