package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/worker/cgivars/oneshot"
	"github.com/arbiter-dev/arbiter/worker/http1"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// httpServer is net/http's server with gunicorn's request limits, a bound on
// concurrent connections, and a drain that ends keep-alive connections at a
// request boundary. On a listener without TLS or h2c, connections are
// served by the http1 fast path, which hands a connection to net/http at
// the first request it leaves to it (see worker/http1).
type httpServer struct {
	srv      *http.Server
	fast     *http1.Server
	handoffs *http1.HandoffListener
	limits   requestLimits
	maxConns int
	idleWait time.Duration // how long idle keep-alive connections may still send one request during a drain

	draining atomic.Bool
	open     atomic.Int64 // connections accepted and not yet closed

	mu           sync.Mutex
	sems         []*connLimitListener
	startNetHTTP sync.Once
}

func newHTTPServer(cfg *config.Config, h http.Handler, proto string, lg zerolog.Logger) *httpServer {
	s := &httpServer{
		limits: requestLimits{
			line:      cfg.LimitRequestLine,
			fields:    cfg.LimitRequestFields,
			fieldSize: cfg.LimitRequestFieldSize,
		},
		maxConns: cfg.WorkerConnections,
		idleWait: min(cfg.Keepalive, time.Second),
	}
	s.srv = &http.Server{
		Handler:           s.wrap(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.Keepalive,
		MaxHeaderBytes:    s.limits.maxHeaderBytes(),
		ErrorLog:          log.New(zerologWriter{lg.With().Str("proto", proto).Logger()}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return info.WithProtocol(context.Background(), proto) },
		ConnState:         s.connState,
	}
	if cfg.Keepalive <= 0 {
		s.srv.SetKeepAlivesEnabled(false)
	}
	s.handoffs = http1.NewHandoffListener()
	s.fast = &http1.Server{
		Handler:           s.srv.Handler,
		Handoff:           s.handoff,
		OnClose:           s.closed,
		BaseContext:       s.srv.BaseContext(nil),
		ErrorLog:          s.srv.ErrorLog,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.Keepalive,
		NoKeepAlive:       cfg.Keepalive <= 0,
	}
	return s
}

func (s *httpServer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PRI" && r.RequestURI == "*" && r.ProtoMajor == 2 {
			// The HTTP/2 connection preface on a listener that does not
			// speak HTTP/2 in clear text (h2c off): not a request for the
			// app.
			w.Header().Set("Connection", "close")
			http.Error(w, "HTTP/2 without TLS is not enabled on this listener (h2c)", http.StatusHTTPVersionNotSupported)
			return
		}
		if code := s.limits.check(r); code != 0 {
			w.Header().Set("Connection", "close")
			http.Error(w, http.StatusText(code), code)
			return
		}
		if s.draining.Load() || len(r.TransferEncoding) > 0 {
			// The response carries Connection: close, and net/http closes
			// the connection after it: the client learns at a request
			// boundary that this connection ends. After a chunked
			// request too: net/http drops a Content-Length sent with
			// Transfer-Encoding, so a request with both (a smuggling
			// attempt, after which RFC 9112 §6.1 says the connection MUST
			// close) cannot be told from a plain chunked one, and the
			// bytes after the chunked body must not be read as a request.
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

func (s *httpServer) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn() // the limit listener holds the TCP conn
		}
		s.closed(http1.Unwrap(c))
	}
}

// closed counts a connection that ended and gives back its slot.
func (s *httpServer) closed(c net.Conn) {
	s.open.Add(-1)
	s.release(c)
}

func (s *httpServer) release(c net.Conn) {
	s.mu.Lock()
	for _, l := range s.sems {
		l.release(c)
	}
	s.mu.Unlock()
}

// handoff passes a connection from the fast path to net/http, starting
// net/http's accept loop on the first one. Once the server is closing, the
// connection is closed instead.
func (s *httpServer) handoff(c net.Conn) {
	s.startNetHTTP.Do(func() { go s.srv.Serve(s.handoffs) })
	s.open.Add(-1) // net/http's StateNew counts it again
	if !s.handoffs.Give(c) {
		c.Close()
		s.release(http1.Unwrap(c))
	}
}

// Serve accepts on l, at most worker_connections connections at a time.
// With a TLSConfig it serves TLS, and HTTP/2 to clients that negotiate
// "h2" by ALPN (net/http's own HTTP/2 server: a drain sends GOAWAY). The
// TLS handshake happens in the connection's goroutine, within
// read_header_timeout, so a slow handshake holds no other connection up.
//
// A Serve that starts after Shutdown or Close (the drain began before its
// goroutine ran) closes l and returns http.ErrServerClosed at once, as
// net/http's Serve does: no accept loop is left that nothing would close.
func (s *httpServer) Serve(l net.Listener) error {
	ll := newConnLimitListener(l, s.maxConns)
	s.mu.Lock()
	if s.draining.Load() { // set before closeListeners takes mu
		s.mu.Unlock()
		ll.Close()
		return http.ErrServerClosed
	}
	s.sems = append(s.sems, ll)
	s.mu.Unlock()
	var err error
	switch {
	case s.srv.TLSConfig != nil:
		err = s.srv.ServeTLS(ll, "", "")
	case s.srv.Protocols != nil && s.srv.Protocols.UnencryptedHTTP2():
		err = s.srv.Serve(ll)
	default:
		return s.serveFast(ll)
	}
	// The drain closes ll before net/http's Shutdown marks its server
	// closed, so net/http may see the closed listener first.
	if errors.Is(err, net.ErrClosed) && s.draining.Load() {
		return http.ErrServerClosed
	}
	return err
}

// serveFast accepts on ll for the fast path. Temporary accept errors (out
// of descriptors) are retried after a pause growing to a second, as
// net/http retries them; a closed listener ends it with
// http.ErrServerClosed, and any other error is returned.
func (s *httpServer) serveFast(ll *connLimitListener) error {
	var delay time.Duration
	for {
		c, err := ll.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return http.ErrServerClosed
			}
			if !oneshot.Temporary(err) {
				return fmt.Errorf("http: accept: %w", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.open.Add(1)
		go s.fast.ServeConn(c)
	}
}

// Shutdown drains: it stops accepting, marks every further response
// Connection: close, gives connections that sat idle when the drain began
// up to idleWait to send one more request (which is answered and then
// closed), then lets net/http close what is idle and wait for the rest. When
// ctx expires first it returns ctx's error; the caller then calls Close.
func (s *httpServer) Shutdown(ctx context.Context) error {
	s.closeListeners()
	deadline := time.Now().Add(s.idleWait)
	for s.open.Load() > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	ferr := s.fast.Shutdown(ctx)
	s.handoffs.Close()
	if err := s.srv.Shutdown(ctx); err != nil {
		return err
	}
	return ferr
}

// closeListeners marks the server draining and stops every accept loop;
// a Serve called later sees the mark and returns at once.
func (s *httpServer) closeListeners() {
	s.draining.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.sems {
		l.Close()
	}
}

// Close closes the listeners and every connection now. The fast path's
// listeners are its own to close: net/http's Close only closes those its
// Serve was given.
func (s *httpServer) Close() error {
	s.closeListeners()
	s.fast.Close()
	s.handoffs.Close()
	return s.srv.Close()
}

// zerologWriter lets net/http's ErrorLog write into zerolog.
type zerologWriter struct{ l zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	if strings.HasPrefix(msg, "http: TLS handshake error") && strings.HasSuffix(msg, ": EOF") {
		// A peer that connected and left without a handshake: a TCP
		// health check, a port scan, wrk at the end of its run. Not
		// worth a warning per connection.
		w.l.Debug().Msg(msg)
		return len(p), nil
	}
	w.l.Warn().Msg(msg)
	return len(p), nil
}
