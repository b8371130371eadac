// Package http1 serves HTTP/1.x connections on a fast path in front of
// net/http: it parses ordinary requests itself and runs the handler for
// them, and it hands a connection to net/http (Server.Handoff) at the
// first request it leaves to net/http, with the bytes it has read put back
// in front. What it serves it serves as net/http would; what it hands off
// (chunked bodies, Expect: 100-continue, upgrades, heads over 4 KiB, bad
// input and its error responses) net/http serves as it always has.
//
// The fast path exists for speed: per keep-alive request net/http starts a
// background read and stops it with deadline changes, and builds a context
// and a chunk writer; a WSGI worker spent 13 µs more per request on that
// than a front without it (docs/benchmarks.md). Here a connection is watched
// for the client going away only once a request has run 10–20 ms, the
// deadlines change once per request, and the response is written by
// cgivars' buffered writer.
package http1

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars/oneshot"
)

// newConnGrace is how long Shutdown lets a connection that has sent nothing
// yet stay open, as net/http does: its request may be in flight.
const newConnGrace = 5 * time.Second

// Server serves connections given to ServeConn. Its fields must not change
// once ServeConn is called.
type Server struct {
	// Handler serves the requests; nil means http.DefaultServeMux.
	Handler http.Handler
	// Handoff takes a connection over at a request boundary, with what was
	// read of the next request put back in front of it. It must not block
	// for long. Nil closes such connections instead.
	Handoff func(net.Conn)
	// OnClose, if set, is called once a connection served here has ended:
	// closed, or hijacked by a handler (not when handed off).
	OnClose func(net.Conn)
	// BaseContext, if set, is the parent of every request's context.
	BaseContext context.Context
	// ErrorLog gets a handler's panic with its stack, as net/http's
	// Server.ErrorLog does; nil is the log package's standard logger.
	ErrorLog *log.Logger

	// ReadHeaderTimeout bounds reading a request head once its first byte
	// has come (the first request's: from ServeConn); 0 means ReadTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, its body included, as
	// in net/http; 0 is no limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds the handler plus writing its response, from the
	// end of the request head; 0 is no limit.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection; 0 means ReadTimeout.
	IdleTimeout time.Duration
	// NoKeepAlive ends every connection after one response.
	NoKeepAlive bool

	draining atomic.Bool
	mu       sync.Mutex
	conns    map[*conn]struct{}
	killed   bool
}

// Connection states, for Shutdown.
const (
	stateNew    int32 = iota // accepted, nothing read yet
	stateActive              // reading a request, or serving one
	stateIdle                // waiting for the next request
	stateClosed              // closed by Shutdown or Close
)

// ServeConn serves rwc until it ends: the client closes it, a response
// ends it (Connection: close, an error, a drain), a handler hijacks it, or
// it is handed off. It returns when the connection's last request is over.
// After Close, it closes rwc at once.
func (s *Server) ServeConn(rwc net.Conn) {
	c := &conn{srv: s, rwc: rwc, accepted: time.Now()}
	if !s.track(c, true) {
		rwc.Close()
		s.closed(rwc)
		return
	}
	c.serve()
}

// Shutdown makes every response from now on end its connection
// (Connection: close), closes the connections that wait for a request (and
// those that have sent nothing for five seconds), and returns when no
// connection is left. When ctx ends first it returns ctx.Err() and leaves
// the rest to Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	return oneshot.PollUntil(ctx, s.closeIdle)
}

// Close closes every connection now, and every connection ServeConn gets
// after it. Handlers still running see their writes fail and their request
// contexts end.
func (s *Server) Close() error {
	s.draining.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killed = true
	for c := range s.conns {
		c.rwc.Close()
	}
	return nil
}

// closeIdle closes the connections without a request in flight and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		st := c.state.Load()
		if st == stateIdle || st == stateNew && time.Since(c.accepted) > newConnGrace {
			if c.state.CompareAndSwap(st, stateClosed) {
				c.rwc.Close()
			}
		}
	}
	return len(s.conns) == 0
}

func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.killed {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) closed(c net.Conn) {
	if s.OnClose != nil {
		s.OnClose(c)
	}
}

func (s *Server) handler() http.Handler {
	if s.Handler == nil {
		return http.DefaultServeMux
	}
	return s.Handler
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) headerTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return s.ReadTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return s.ReadTimeout
}

// replayConn is a handed-off connection: reads return the bytes already
// read from it first.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Unwrap returns the connection under c if it is one Server handed off,
// else c.
func Unwrap(c net.Conn) net.Conn {
	if rc, ok := c.(*replayConn); ok {
		return rc.Conn
	}
	return c
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// readBufSize is the read buffer of a connection, and so the largest
// request head the fast path serves.
const readBufSize = 4 << 10

// ReadFrom keeps sendfile for a handed-off connection's responses.
func (c *replayConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite keeps net/http's half-close before it closes a connection.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// HandoffListener is a net.Listener whose connections come from Give: a
// Server's Handoff gives them to it, and net/http serves from it.
type HandoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewHandoffListener returns an open HandoffListener.
func NewHandoffListener() *HandoffListener {
	return &HandoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Give waits for Accept to take c; false means the listener was closed
// first, and c is the caller's still.
func (l *HandoffListener) Give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept returns the next connection given, or net.ErrClosed once closed.
func (l *HandoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Give fail from now on; it may be called again.
func (l *HandoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr names no address: the connections come from other listeners.
func (l *HandoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
