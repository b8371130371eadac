// Package oneshot is the server core shared by the protocols that carry one
// CGI request per connection, SCGI and uwsgi: the accept loop with its
// connection cap, graceful shutdown, deadlines, the request body and the
// watch for a peer that goes away, panic recovery, and closing a connection
// without resetting a response the peer has not read yet. A protocol package
// supplies only the parser of its request head (a Protocol) and wraps a
// Server in its own type.
package oneshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
)

// Protocol is what a one-request-per-connection protocol supplies.
type Protocol struct {
	// Name prefixes errors ("scgi").
	Name string
	// Style is how responses carry their status.
	Style cgivars.Style
	// ReadHead reads the request head from br and returns its CGI
	// variables. It must not read past the head, must not buffer more than
	// about maxBytes, and must return an error for bad input; an error
	// wrapping cgivars.ErrBadRequest means the head was read completely but
	// describes no valid request, so the server answers 400 before closing.
	ReadHead func(br *bufio.Reader, maxBytes int) (map[string]string, error)
	// Dechunk lets a request with no CONTENT_LENGTH and
	// HTTP_TRANSFER_ENCODING=chunked have a chunked body, which the server
	// decodes (the uWSGI router's --http-chunked-input). Otherwise such a
	// request has no body.
	Dechunk bool
}

// ErrPeerGone is the cause (context.Cause) of a request context that ended
// because the peer closed the connection.
var ErrPeerGone = errors.New("peer closed the connection")

// newConnGrace is how long Shutdown lets a connection that has sent nothing
// yet stay open: its request may be in flight. (A variable for tests.)
var newConnGrace = 5 * time.Second

// lingerTimeout bounds how long a connection reads and discards after its
// response when the request was not read completely, so that closing it
// does not reset the connection before the peer has read the response.
const lingerTimeout = time.Second

// Timings and sizes that are not configurable.
const (
	// lingerMaxBytes bounds how much a connection reads and discards after
	// its response when the request was not read completely (lingerTimeout).
	lingerMaxBytes = 32 << 20
	// errorWriteTimeout bounds writing a 400 or 500 response.
	errorWriteTimeout = 5 * time.Second
	// readBufSize is the size of a connection's read buffer.
	readBufSize = 4 << 10
)

// Server serves one CGI request per connection. Its configuration fields
// must not change once Serve is called.
type Server struct {
	Protocol Protocol

	// Handler serves the requests; nil means http.DefaultServeMux.
	Handler http.Handler
	// BaseContext, if set, is the parent of every request's context.
	BaseContext context.Context
	// Log gets one line per connection with bad input (nil discards).
	Log *peerlog.Logger
	// MaxConns caps concurrent connections; 0 is no cap. At the cap, Serve
	// stops accepting until a connection ends (the kernel's backlog holds
	// new ones meanwhile).
	MaxConns int
	// MaxHeadBytes is passed to Protocol.ReadHead; it must be positive.
	MaxHeadBytes int
	// ReadHeaderTimeout bounds reading the request head, from accept; 0
	// means ReadTimeout, and no limit if that is 0 too.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request including the body, from
	// accept; 0 is no limit. Once the body has been read, the connection has
	// no read deadline while it is watched for the peer going away.
	ReadTimeout time.Duration
	// WriteTimeout bounds the handler plus writing the response, from the
	// end of the request head; 0 is no limit. When it passes, writes fail
	// and the request context is cancelled.
	WriteTimeout time.Duration

	// linger overrides lingerTimeout in tests.
	linger time.Duration

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	serving   int           // Serve loops that have not returned
	killed    bool          // Close was called: no connection is served any more
	done      chan struct{} // closed by Shutdown and Close
	closing   atomic.Bool
	semOnce   sync.Once
	sem       chan struct{}
	idleOnce  sync.Once
	idle      chan *conn // to goroutines that wait for another connection
}

// Serve accepts connections on l and serves each in a goroutine of its own:
// one that finished a connection and waits for another (see work), else a
// new one. It returns http.ErrServerClosed after Shutdown or Close (at once
// if they came first), or the listener's error. Temporary accept errors
// (out of file descriptors) are retried after a pause growing up to one
// second. Serve does not close l on other errors.
//
// A connection that Accept returns after Shutdown began (the accept raced
// the listener's close) is served like any other: its peer has sent, or is
// sending, a request that no other worker will see, and closing the
// connection unread would reset it under that request.
func (s *Server) Serve(l net.Listener) error {
	if !s.trackListener(&l, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(&l, false)
	var delay time.Duration
	for {
		if !s.acquire() {
			return http.ErrServerClosed
		}
		rwc, err := l.Accept()
		if err != nil {
			s.release()
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if Temporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.doneChan():
					return http.ErrServerClosed
				}
			}
			return fmt.Errorf("%s: accept: %w", s.Protocol.Name, err)
		}
		delay = 0
		c := &conn{srv: s, rwc: rwc, accepted: time.Now()}
		// Only Close refuses it; after Shutdown it is served (see above).
		if !s.trackConn(c, true) {
			rwc.Close()
			s.release()
			return http.ErrServerClosed
		}
		select {
		case s.idleConns() <- c: // a goroutine whose stack has grown already
		default:
			go s.work(c)
		}
	}
}

// idleWorker is how long a goroutine that served a connection waits for
// another before it ends. A front end opens a connection per request (nginx
// to uwsgi and SCGI upstreams), so under load a waiting goroutine is handed
// one within microseconds; at rest they are gone after idleWorker.
const idleWorker = 5 * time.Second

func (s *Server) idleConns() chan *conn {
	s.idleOnce.Do(func() { s.idle = make(chan *conn) })
	return s.idle
}

// work serves c, then the connections Serve hands it, until none comes for
// idleWorker or Shutdown or Close was called. A new goroutine per
// connection grows its stack by copying, several times, to what serving a
// request needs: with nginx passing every request on a connection of its
// own, that was 5.6 % of a WSGI worker's CPU time (perf, docs/benchmarks.md).
func (s *Server) work(c *conn) {
	t := time.NewTimer(idleWorker)
	defer t.Stop()
	idle := s.idleConns()
	for {
		c.serve()
		t.Reset(idleWorker)
		select {
		case c = <-idle:
		case <-t.C:
			return
		case <-s.doneChan():
			return
		}
	}
}

// Shutdown stops accepting (it closes the listeners), lets the requests in
// flight finish, and returns when no connection is left and every Serve
// loop has returned (so a connection accepted while the listener closed is
// served too). A connection that has sent nothing is closed once it is five
// seconds old. When ctx ends
// first, Shutdown closes the remaining connections (their requests'
// contexts end) and returns ctx.Err(); it does not wait for their handlers
// to return.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	err := s.closeListenersLocked()
	s.closeDoneLocked()
	s.mu.Unlock()

	if perr := PollUntil(ctx, s.closeSilentConns); perr != nil {
		s.closeConns()
		return perr
	}
	return err
}

// PollUntil calls done the way net/http's Shutdown polls for idle
// connections: at once, then after 1 ms, the pause doubling up to 100 ms,
// until done reports true (nil) or ctx ends (ctx.Err()).
func PollUntil(ctx context.Context, done func() bool) error {
	interval := time.Millisecond
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			interval = min(2*interval, 100*time.Millisecond)
			timer.Reset(interval)
		}
	}
	return nil
}

// Close closes the listeners and every connection at once. Handlers still
// running see their request contexts end and their writes fail. It returns
// the error from closing the listeners.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	s.killed = true
	err := s.closeListenersLocked()
	s.closeDoneLocked()
	s.mu.Unlock()
	s.closeConns()
	return err
}

func (s *Server) handler() http.Handler {
	if s.Handler == nil {
		return http.DefaultServeMux
	}
	return s.Handler
}

func (s *Server) headerTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return s.ReadTimeout
}

// acquire takes a connection slot, waiting while MaxConns are open; false
// means the server is closing.
func (s *Server) acquire() bool {
	if s.MaxConns <= 0 {
		return !s.closing.Load()
	}
	s.semOnce.Do(func() { s.sem = make(chan struct{}, s.MaxConns) })
	select {
	case s.sem <- struct{}{}:
		return true
	case <-s.doneChan():
		return false
	}
}

func (s *Server) release() {
	if s.MaxConns > 0 {
		<-s.sem
	}
}

func (s *Server) doneChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

func (s *Server) closeDoneLocked() {
	if s.done == nil {
		s.done = make(chan struct{})
	}
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing.Load() {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[l] = struct{}{}
		s.serving++
	} else {
		delete(s.listeners, l)
		s.serving--
	}
	return true
}

func (s *Server) closeListenersLocked() error {
	var err error
	for l := range s.listeners {
		if cerr := (*l).Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.killed {
			return false
		}
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// closeSilentConns closes the connections that have sent nothing for
// newConnGrace and reports whether no connection is left and no Serve loop
// can add one.
func (s *Server) closeSilentConns() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.active.Load() && time.Since(c.accepted) > newConnGrace {
			c.rwc.Close()
		}
	}
	return len(s.conns) == 0 && s.serving == 0
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.rwc.Close()
	}
}

// Temporary reports whether an accept error is worth retrying after a
// pause: a timeout, or the process or system out of descriptors, buffers or
// memory, or a connection aborted before it was accepted.
func Temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
