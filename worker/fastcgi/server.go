package fastcgi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/worker/peerlog"
)

// Defaults for the Server fields left at zero.
const (
	// DefaultMaxRequests is FCGI_MAX_REQS when Server.MaxRequests is 0:
	// enough for haproxy's multiplexing (its max-reqs) while bounding what
	// one connection can hold (see Server.MaxRequests).
	DefaultMaxRequests = 16
	// DefaultMaxParamsBytes is the params cap when Server.MaxParamsBytes is
	// 0. nginx sends all params in one record, so it can never send more
	// than 65535 bytes, and every front end caps a client's header block
	// below that (nginx 4×8 KiB, Apache 100 fields of 8 KiB); cgi-fcgi,
	// which forwards its whole environment, may need more.
	DefaultMaxParamsBytes = 64 << 10
	// DefaultBodyBuffer is a request's STDIN buffer when Server.BodyBuffer
	// is 0.
	DefaultBodyBuffer = 64 << 10
	// stallLimit is how long a full body buffer may hold up a multiplexed
	// connection (see the package documentation).
	stallLimit = 500 * time.Millisecond
)

// Server serves FastCGI responder requests to an http.Handler. Its fields
// must not change once Serve has been called.
type Server struct {
	// BaseContext, if set, is the parent of every connection's and so every
	// request's context: a way to give handlers values (the worker tags the
	// protocol this way) without a copy of each request.
	BaseContext context.Context

	// Handler serves the requests; nil means http.DefaultServeMux.
	Handler http.Handler
	// Log gets one line per bad peer input (protocol errors, bad params,
	// timeouts waiting for params) and per handler panic; nil discards.
	Log *peerlog.Logger

	// MaxConns bounds the connections served at once; Accept waits while
	// the bound is reached. 0 means unlimited. GET_VALUES reports it as
	// FCGI_MAX_CONNS (unlimited: the process's open-file limit).
	MaxConns int
	// MaxRequests bounds the requests active on one connection
	// (FCGI_MAX_REQS); a BEGIN_REQUEST beyond it gets END_REQUEST with
	// FCGI_OVERLOADED (FCGI_CANT_MPX_CONN when it is 1). An aborted
	// request whose handler is still running keeps its slot. 0 means
	// DefaultMaxRequests. FCGI_MPXS_CONNS is 1 when it is above 1.
	MaxRequests int
	// MaxParamsBytes caps one request's PARAMS stream. A request over it
	// is answered 431 without running the handler, and logged. 0 means
	// DefaultMaxParamsBytes.
	MaxParamsBytes int
	// BodyBuffer is the most STDIN a request buffers ahead of its
	// handler. 0 means DefaultBodyBuffer. What happens when it is full is
	// in the package documentation.
	BodyBuffer int

	// ReadHeaderTimeout bounds BEGIN_REQUEST to the end of PARAMS; on
	// expiry the connection is closed and the peer logged (front ends send
	// params at once, so only a broken or hostile peer is that slow). 0
	// means ReadTimeout's value; both 0 means no limit.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection that has no active request for that
	// long (a kept connection, or a new one that sent nothing). 0 means
	// ReadTimeout's value; both 0 means no limit.
	IdleTimeout time.Duration
	// ReadTimeout bounds BEGIN_REQUEST to the empty STDIN record. On
	// expiry the handler's body Read fails with ErrBodyTimeout and the
	// rest of the body is discarded; the handler still answers. 0 means no
	// limit.
	ReadTimeout time.Duration
	// WriteTimeout bounds every write to the connection. Writes of all the
	// connection's requests share it, so a web server that stops reading
	// makes one of them fail after this long; the connection is then
	// closed and every request on it cancelled. 0 means no limit.
	WriteTimeout time.Duration

	// stallLimit overrides the package constant in tests.
	stallLimit time.Duration

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	changed   chan struct{} // closed and replaced when a connection or a Serve loop goes
	serving   int           // Serve loops that have not returned
	stopping  bool          // Shutdown or Close was called
	killed    bool          // Close was called: no connection is served any more
	stopped   chan struct{} // closed when stopping becomes true
	slots     chan struct{} // MaxConns semaphore
	cfg       *settings
}

// settings are the Server's fields with the defaults applied.
type settings struct {
	maxRequests, maxParams, bodyBuffer, maxConnsValue         int
	readHeaderTimeout, idleTimeout, readTimeout, writeTimeout time.Duration
	stallLimit                                                time.Duration
}

// paramsTimeout is the limit from BEGIN_REQUEST to the end of PARAMS.
func (s *settings) paramsTimeout() time.Duration {
	if s.readHeaderTimeout > 0 {
		return s.readHeaderTimeout
	}
	return s.readTimeout
}

// initLocked applies the defaults once. s.mu is held.
func (s *Server) initLocked() {
	if s.cfg != nil {
		return
	}
	cfg := &settings{
		maxRequests:       orDefault(s.MaxRequests, DefaultMaxRequests),
		maxParams:         orDefault(s.MaxParamsBytes, DefaultMaxParamsBytes),
		bodyBuffer:        orDefault(s.BodyBuffer, DefaultBodyBuffer),
		maxConnsValue:     s.MaxConns,
		readHeaderTimeout: s.ReadHeaderTimeout,
		idleTimeout:       s.IdleTimeout,
		readTimeout:       s.ReadTimeout,
		writeTimeout:      s.WriteTimeout,
		stallLimit:        stallLimit,
	}
	if cfg.idleTimeout <= 0 {
		cfg.idleTimeout = s.ReadTimeout
	}
	if cfg.maxConnsValue <= 0 {
		cfg.maxConnsValue = openFileLimit()
	}
	if s.stallLimit > 0 {
		cfg.stallLimit = s.stallLimit
	}
	s.cfg = cfg
	s.listeners = make(map[*net.Listener]struct{})
	s.conns = make(map[*conn]struct{})
	s.changed = make(chan struct{})
	s.stopped = make(chan struct{})
	if s.MaxConns > 0 {
		s.slots = make(chan struct{}, s.MaxConns)
	}
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// Serve accepts connections on l and serves each in its own goroutine. It
// returns http.ErrServerClosed after Shutdown or Close, or the first
// non-temporary Accept error (temporary ones, such as running out of file
// descriptors, are retried with a backoff of up to a second). l is closed
// when Serve returns.
//
// A connection that Accept returns after Shutdown began (the accept raced
// the listener's close) is served, as a draining one: its peer has sent, or
// is sending, a request that no other worker will see, and closing the
// connection unread would reset it under that request.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.initLocked()
	if s.stopping {
		s.mu.Unlock()
		_ = l.Close()
		return http.ErrServerClosed
	}
	s.listeners[&l] = struct{}{}
	s.serving++
	cfg, slots, stopped := s.cfg, s.slots, s.stopped
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &l)
		s.serving--
		s.changedLocked()
		s.mu.Unlock()
		_ = l.Close()
	}()

	var delay time.Duration
	for {
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-stopped:
				return http.ErrServerClosed
			}
		}
		nc, err := l.Accept()
		if err != nil {
			if slots != nil {
				<-slots
			}
			if s.isStopping() {
				return http.ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
				case <-stopped:
					return http.ErrServerClosed
				}
				continue
			}
			return fmt.Errorf("fastcgi: accept: %w", err)
		}
		delay = 0
		c := newConn(s, cfg, nc)
		draining, ok := s.track(c)
		if !ok {
			_ = nc.Close()
			if slots != nil {
				<-slots
			}
			return http.ErrServerClosed
		}
		if draining {
			c.beginShutdown()
		}
		go c.serve()
	}
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// track adds a connection Serve accepted, unless Close was called (ok
// false); draining says Shutdown was, and the connection is to drain.
func (s *Server) track(c *conn) (draining, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.killed {
		return false, false
	}
	s.conns[c] = struct{}{}
	return s.stopping, true
}

// forget is called by a connection when it and its handlers are done.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.changedLocked()
	s.mu.Unlock()
	if s.slots != nil {
		<-s.slots
	}
}

// changedLocked wakes Shutdown to count again. s.mu is held.
func (s *Server) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// stop closes the listeners and returns the connections; kill (Close) also
// makes Serve close what it still accepts.
func (s *Server) stop(kill bool) (conns []*conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	s.killed = s.killed || kill
	if !s.stopping {
		s.stopping = true
		close(s.stopped)
	}
	for l := range s.listeners {
		if cerr := (*l).Close(); cerr != nil && err == nil {
			err = cerr
		}
		delete(s.listeners, l)
	}
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns, err
}

// Shutdown stops the server gracefully. The listeners close at once. Open
// connections keep being served, since a front end with a connection pool
// (nginx's fastcgi_keep_conn with upstream keepalive) may send a request on
// any of them at any moment and FastCGI cannot tell it that a connection
// ends. A pooled connection (its last request had KEEP_CONN) is nudged
// instead (nudge.go): at once when idle, after its END_REQUEST when busy;
// nginx then closes it, and it ends when the peer does, or nudgeWait after
// the nudge. Another closes once idle for a second (or the idle timeout, if
// shorter), or after END_REQUEST when the peer asked with KEEP_CONN=0.
// Halfway to ctx's deadline, such a connection closes once idle for 50 ms;
// three quarters of the way, the connections still in use (a peer that
// ignores nudges) close at their next request boundary. Shutdown returns
// when every Serve loop has returned (a connection accepted while the
// listener closed is served too) and every connection and handler is done.
// If ctx ends first, the remaining connections are closed (their handlers
// see their contexts cancelled) and ctx's error is returned without waiting
// for those handlers.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, lerr := s.stop(false)
	for _, c := range conns {
		c.beginShutdown()
	}
	// Halfway to the deadline, connections close after a shorter quiet
	// spell; three quarters of the way, at their next request boundary.
	var quiet, finish <-chan time.Time
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		q, f := time.NewTimer(left/2), time.NewTimer(left*3/4)
		defer q.Stop()
		defer f.Stop()
		quiet, finish = q.C, f.C
	}
	for {
		s.mu.Lock()
		n, changed := len(s.conns)+s.serving, s.changed
		s.mu.Unlock()
		if n == 0 {
			return lerr
		}
		select {
		case <-changed:
		case <-quiet:
			quiet = nil
			s.mu.Lock()
			for c := range s.conns {
				c.quietDrain()
			}
			s.mu.Unlock()
		case <-finish:
			finish = nil
			s.mu.Lock()
			for c := range s.conns {
				c.finishDrain()
			}
			s.mu.Unlock()
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.kill()
			}
			s.mu.Unlock()
			return ctx.Err()
		}
	}
}

// Close stops the server at once: listeners and connections are closed and
// every request's context is cancelled. It does not wait for handlers.
func (s *Server) Close() error {
	conns, err := s.stop(true)
	for _, c := range conns {
		c.kill()
	}
	return err
}
