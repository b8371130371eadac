package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/cgivars/oneshot"
	"github.com/arbiter-dev/arbiter/worker/rawio"
)

// maxDiscardBytes is how much of a request body the handler left unread is
// read and thrown away to keep the connection (net/http's 256 KiB); past
// it, the response says Connection: close.
const maxDiscardBytes = 256 << 10

var crlfcrlf = []byte("\r\n\r\n")

// conn is one connection and its requests, one at a time.
type conn struct {
	srv      *Server
	rwc      net.Conn
	accepted time.Time
	state    atomic.Int32
	br       *bufio.Reader
	base     context.Context
	remote   string
	hijacked bool
	sock     io.ReadWriter // rwc, or its raw side (rawio.ReadWriter): requests are read and responses written here
}

func (c *conn) serve() {
	s := c.srv
	c.remote = c.rwc.RemoteAddr().String()
	parent := s.BaseContext
	if parent == nil {
		parent = context.Background()
	}
	c.base = context.WithValue(parent, http.LocalAddrContextKey, c.rwc.LocalAddr())
	c.br = readerPool.Get().(*bufio.Reader)
	c.sock = rawio.ReadWriter(c.rwc)
	c.br.Reset(c.sock)
	handedOff := false
	defer func() {
		s.track(c, false)
		switch {
		case c.hijacked: // the reader is the handler's now
		case handedOff:
			c.putReader()
		default:
			c.putReader()
			c.rwc.Close()
		}
		if !handedOff {
			s.closed(c.rwc)
		}
	}()

	if d := s.headerTimeout(); d > 0 {
		c.rwc.SetReadDeadline(c.accepted.Add(d))
	}
	lastPOST := false
	for first := true; ; first = false {
		if !first {
			if !c.state.CompareAndSwap(stateActive, stateIdle) || s.draining.Load() {
				return
			}
			if d := s.idleTimeout(); d > 0 {
				c.rwc.SetReadDeadline(time.Now().Add(d))
			} else {
				c.rwc.SetReadDeadline(time.Time{})
			}
		}
		// As net/http: the first request may be a byte long (to be
		// answered 400); a later one must bring 4 bytes before the
		// connection ends, and after a POST up to 4 CR or LF before it
		// are dropped (RFC 9112 §2.2 lets a server skip them).
		want := 1
		if !first {
			want = 4
		}
		peek, err := c.br.Peek(want)
		if err != nil {
			return // closed, timed out, or Shutdown closed it while idle
		}
		if lastPOST {
			c.br.Discard(leadingCRLF(peek))
		}
		if st := c.state.Load(); st == stateClosed || !c.state.CompareAndSwap(st, stateActive) {
			return // Shutdown closed it as the request came
		}
		start := time.Now()
		block, ok, err := c.readHead(first)
		if err != nil && !errors.Is(err, io.EOF) {
			return // a timeout within the head: net/http too closes without a word
		}
		var h head
		if ok {
			h, ok = parseHead(block)
		}
		if !ok {
			handedOff = c.handoff()
			return
		}
		c.br.Discard(len(block))
		lastPOST = h.method == http.MethodPost
		if !c.serveRequest(&h, start) {
			return
		}
	}
}

// leadingCRLF counts the CR and LF bytes at the front of p.
func leadingCRLF(p []byte) int {
	n := 0
	for n < len(p) && (p[n] == '\r' || p[n] == '\n') {
		n++
	}
	return n
}

func (c *conn) putReader() {
	c.br.Reset(nil)
	readerPool.Put(c.br)
}

// readHead returns the request head at the front of the read buffer,
// reading more while it is incomplete, within the header timeout. ok is
// false, with no error, when the head is one to hand off: it does not fit
// the buffer, or a line that net/http would refuse is complete already (a
// bare LF, a bad request line or field line), so net/http answers it at
// the moment it would have. At EOF within the head the error is io.EOF, and
// the head goes to net/http too, which answers what it can parse of it.
func (c *conn) readHead(first bool) (block string, ok bool, err error) {
	br := c.br
	buf, _ := br.Peek(br.Buffered())
	if i := bytes.Index(buf, crlfcrlf); i >= 0 {
		return string(buf[:i+4]), true, nil
	}
	if !first {
		if d := c.srv.headerTimeout(); d > 0 {
			c.rwc.SetReadDeadline(time.Now().Add(d))
		}
	}
	for {
		if !linesValid(buf) || br.Buffered() == br.Size() {
			return "", false, nil
		}
		searched := max(len(buf)-3, 0)
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			// At EOF net/http still parses what came, and may answer
			// it (a 400 for half a request line): the caller hands
			// off.
			return "", false, err
		}
		buf, _ = br.Peek(br.Buffered())
		if i := bytes.Index(buf[searched:], crlfcrlf); i >= 0 {
			return string(buf[:searched+i+4]), true, nil
		}
	}
}

// handoff gives the connection to Server.Handoff with the bytes read and
// not used in front of it, and reports whether it did.
func (c *conn) handoff() bool {
	s := c.srv
	if s.Handoff == nil {
		return false
	}
	buf, _ := c.br.Peek(c.br.Buffered())
	rc := &replayConn{Conn: c.rwc, pre: bytes.Clone(buf)}
	c.rwc.SetReadDeadline(time.Time{})
	s.track(c, false)
	s.Handoff(rc)
	return true
}

// serveRequest runs the handler for h and reports whether the connection
// may carry another request.
func (c *conn) serveRequest(h *head, start time.Time) (keep bool) {
	s := c.srv
	ctx, cancel := context.WithCancelCause(c.base)
	defer cancel(nil)
	// One allocation for the request's body, writer and connection writer.
	x := &exchange{
		body: body{c: c, remaining: h.contentLength, cancel: cancel, counted: h.contentLength > 0},
		cw:   oneshot.ConnWriter{Conn: c.rwc, W: c.sock, Cancel: cancel},
	}
	b := &x.body
	if b.counted {
		if s.ReadTimeout > 0 {
			b.deadline = start.Add(s.ReadTimeout)
		}
		c.rwc.SetReadDeadline(b.deadline)
	}
	if s.WriteTimeout > 0 {
		c.rwc.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
	}
	// The request is built on the stack and copied once by WithContext,
	// which is the only way to give it its context.
	tmpl := http.Request{
		Method:        h.method,
		URL:           h.url,
		Proto:         h.proto,
		ProtoMajor:    1,
		ProtoMinor:    h.minor,
		Header:        h.header,
		Body:          b,
		ContentLength: h.contentLength,
		Host:          h.host,
		RemoteAddr:    c.remote,
		RequestURI:    h.target,
		Close:         h.close,
	}
	if h.contentLength == 0 {
		tmpl.Body = http.NoBody
		b.eof = true
		b.startWatchLocked()
	}
	req := tmpl.WithContext(ctx)
	rw := cgivars.NewOriginWriter(&x.cw, req, cgivars.Origin{
		HTTP10:    h.minor == 0,
		KeepAlive: !h.close && !s.NoKeepAlive && !s.draining.Load(),
		Hold:      b.hold,
	})
	x.resp = response{ResponseWriter: rw, c: c, body: b}
	w := &x.resp

	panicked := c.runHandler(w, req)
	if c.hijacked {
		return false
	}
	b.close()
	if panicked {
		// As net/http: the connection closes, and a client that got part
		// of the response sees a body without its end.
		return false
	}
	if err := rw.Finish(); err != nil {
		return false // a write error, or a body short of its Content-Length
	}
	if !rw.KeepAlive() || s.draining.Load() {
		if !b.eof {
			oneshot.LingerClose(c.rwc)
		}
		return false
	}
	return b.discard()
}

// runHandler calls the handler and reports whether it panicked. A panic is
// logged with its stack, as net/http logs it, except http.ErrAbortHandler.
func (c *conn) runHandler(w http.ResponseWriter, req *http.Request) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("http: panic serving %v: %v\n%s", c.remote, p, buf)
			}
		}
	}()
	c.srv.handler().ServeHTTP(w, req)
	return false
}

// exchange is what one request needs beside the http.Request, in one
// allocation.
type exchange struct {
	body body
	resp response
	cw   oneshot.ConnWriter
}

// response is the handler's http.ResponseWriter: cgivars' writer with what
// http.ResponseController and net/http's own writer offer besides.
type response struct {
	*cgivars.ResponseWriter
	c    *conn
	body *body
}

// Hijack hands the connection to the handler, as net/http's does: a status
// already written is flushed first, deadlines are cleared, and the reader
// returned holds what was read past the request head.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.Status() != 0 {
		if err := w.FlushError(); err != nil {
			return nil, nil, err
		}
	}
	w.body.close()
	c.hijacked = true
	c.rwc.SetDeadline(time.Time{})
	return c.rwc, bufio.NewReadWriter(c.br, bufio.NewWriter(c.rwc)), nil
}

// SetReadDeadline sets the connection's read deadline (the request body's).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.rwc.SetWriteDeadline(t) }

// EnableFullDuplex succeeds: the request body can always be read while
// the response is written; nothing discards it when the headers go out.
func (w *response) EnableFullDuplex() error { return nil }
