package oneshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/rawio"
)

// aLongTimeAgo is a deadline in the past: setting it unblocks a pending Read.
var aLongTimeAgo = time.Unix(1, 0)

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// conn is one accepted connection and its one request.
type conn struct {
	srv      *Server
	rwc      net.Conn
	sock     io.ReadWriter // rwc, or its raw side (rawio.ReadWriter): the request is read and the response written here
	accepted time.Time
	active   atomic.Bool // the first byte of the request arrived
	logged   atomic.Bool // a bad-input line was logged for this connection
}

// bad logs reason for this connection's peer, once per connection. An error
// from a connection the server itself closed (Close, Shutdown) is not the
// peer's fault and is not logged.
func (c *conn) bad(reason error) {
	if errors.Is(reason, net.ErrClosed) {
		return
	}
	if c.logged.CompareAndSwap(false, true) {
		c.srv.Log.Bad(peerName(c.rwc), fmt.Errorf("%s: %w", c.srv.Protocol.Name, reason))
	}
}

func peerName(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil && a.String() != "" {
		return a.String()
	}
	return "@" // an unnamed unix socket peer
}

// serve runs the connection to its end.
func (c *conn) serve() {
	s := c.srv
	defer func() {
		c.rwc.Close()
		s.trackConn(c, false)
		s.release()
	}()
	if d := s.headerTimeout(); d > 0 {
		c.rwc.SetReadDeadline(c.accepted.Add(d))
	}
	br := readerPool.Get().(*bufio.Reader)
	c.sock = rawio.ReadWriter(c.rwc)
	br.Reset(c.sock)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()

	if _, err := br.Peek(1); err != nil {
		if !errors.Is(err, io.EOF) {
			c.bad(fmt.Errorf("waiting for a request: %w", err)) // a silent peer's timeout
		}
		return // a connect-and-close (health check) is not bad input
	}
	c.active.Store(true)
	env, err := s.Protocol.ReadHead(br, s.MaxHeadBytes)
	if err != nil {
		c.bad(err)
		if errors.Is(err, cgivars.ErrBadRequest) {
			c.respondError(http.StatusBadRequest, nil)
			c.lingerClose()
		}
		return
	}

	if s.ReadTimeout > 0 {
		c.rwc.SetReadDeadline(c.accepted.Add(s.ReadTimeout))
	} else {
		c.rwc.SetReadDeadline(time.Time{})
	}
	if s.WriteTimeout > 0 {
		c.rwc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
	}
	parent := context.Background()
	if c.srv.BaseContext != nil {
		parent = c.srv.BaseContext
	}
	base := context.WithValue(parent, http.LocalAddrContextKey, c.rwc.LocalAddr())
	ctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	b := &body{c: c, br: br, cancel: cancel}
	req, err := cgivars.NewRequest(ctx, env, b)
	if err != nil {
		c.bad(err)
		c.respondError(http.StatusBadRequest, nil)
		c.lingerClose()
		return
	}
	req.Close = true
	b.frame(req, s.Protocol.Dechunk)

	rw := cgivars.NewResponseWriter(ConnWriter{Conn: c.rwc, W: c.sock, Cancel: cancel}, s.Protocol.Style, req)
	panicked := c.runHandler(rw, req)
	b.close()
	if panicked {
		if rw.Committed() {
			c.abort() // the peer must not take a truncated response for a whole one
			return
		}
		c.respondError(http.StatusInternalServerError, req)
		c.lingerClose()
		return
	}
	if err := rw.Finish(); err != nil {
		if errors.Is(err, cgivars.ErrShortBody) {
			c.abort()
		}
		return // a write error: the peer is gone or too slow
	}
	if !b.consumed() {
		c.lingerClose()
	}
}

// runHandler calls the handler and reports whether it panicked. Panics are
// logged, except http.ErrAbortHandler, which is how a handler asks for the
// connection to be dropped.
func (c *conn) runHandler(rw http.ResponseWriter, req *http.Request) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			if p != http.ErrAbortHandler {
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.bad(fmt.Errorf("handler panic serving %s: %v\n%s", req.RequestURI, p, buf))
			}
		}
	}()
	c.srv.handler().ServeHTTP(rw, req)
	return false
}

// respondError writes a plain-text error response; req may be nil.
func (c *conn) respondError(code int, req *http.Request) {
	c.rwc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	rw := cgivars.NewResponseWriter(c.rwc, c.srv.Protocol.Style, req)
	http.Error(rw, http.StatusText(code), code)
	rw.Finish()
}

// lingerClose is LingerClose with the server's linger time.
func (c *conn) lingerClose() {
	d := lingerTimeout
	if c.srv.linger > 0 {
		d = c.srv.linger
	}
	lingerClose(c.rwc, d)
}

// LingerClose half-closes c and reads what the peer still sends, for a
// second and 32 MiB at most, so that closing it does not reset the
// connection before the peer has read the response (a TCP peer whose
// unread data meets a close gets an RST, and may lose the response with
// it). Connections without a write half-close (net.Pipe) are left as they
// are. The caller closes c.
func LingerClose(c net.Conn) { lingerClose(c, lingerTimeout) }

func lingerClose(c net.Conn, d time.Duration) {
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.SetReadDeadline(time.Now().Add(d))
	io.CopyN(io.Discard, c, lingerMaxBytes)
}

// abort makes the coming close reset a TCP connection, which tells the peer
// the response is incomplete; a front end then fails the request instead of
// passing a truncated body on as if it were whole.
func (c *conn) abort() {
	// An interface, not *net.TCPConn: a PROXY protocol connection wraps one.
	if tc, ok := c.rwc.(interface{ SetLinger(int) error }); ok {
		tc.SetLinger(0)
	}
}

// ConnWriter is what a response is written to: a failed write (the peer
// went away, or a write timeout passed) ends the request context with the
// error as its cause.
type ConnWriter struct {
	Conn   net.Conn
	W      io.Writer // where Write goes: Conn, or its raw side (rawio.ReadWriter)
	Cancel context.CancelCauseFunc
}

func (w ConnWriter) Write(p []byte) (int, error) {
	n, err := w.W.Write(p)
	if err != nil {
		w.Cancel(fmt.Errorf("writing the response: %w", err))
	}
	return n, err
}

// ReadFrom passes r to the connection's own ReadFrom, which sends a file
// with sendfile over TCP and unix sockets.
func (w ConnWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.Conn.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.Conn}, r)
	}
	if err != nil {
		w.Cancel(fmt.Errorf("writing the response: %w", err))
	}
	return n, err
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
