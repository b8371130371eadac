package fastcgi

// What the server sends: the STDOUT stream of a request and the
// connection's serialized writes.

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// errFinished is returned by writes to a response whose END_REQUEST has been
// sent, or after its handler returned.
var errFinished = errors.New("fastcgi: response already finished")

// outBufSize is how much response body a request collects before it sends a
// STDOUT record (unless flushed first). The handler's ResponseWriter already
// buffers 8 KiB; this buffer exists so that a small response, the empty
// STDOUT record and END_REQUEST leave in one write.
const outBufSize = 16 << 10

// outBufCap leaves room for the record header in front and, behind the
// content, padding, the empty STDOUT record and END_REQUEST.
const outBufCap = headerLen + outBufSize + 7 + headerLen + headerLen + 8

var outBufPool = sync.Pool{New: func() any {
	b := make([]byte, headerLen, outBufCap)
	return &b
}}

// stdout is the io.Writer a request's ResponseWriter writes to: the STDOUT
// stream of one request. Only the request's handler goroutine uses it. Every
// record goes through conn.writeRecord, which drops it once END_REQUEST has
// been sent for the request, so nothing follows END_REQUEST.
type stdout struct {
	req *request
	buf *[]byte // pending record: (*buf)[:headerLen] is reserved for the header
	err error
}

// Write sends p as STDOUT content, buffering small writes. Records carry at
// most maxContent bytes, padded to 8. After an abort Write returns
// ErrAborted; after a write to the connection failed, that error.
func (s *stdout) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.buf == nil {
		s.buf = outBufPool.Get().(*[]byte)
	}
	b := *s.buf
	if len(b)+len(p) <= headerLen+outBufSize {
		*s.buf = append(b, p...)
		return len(p), nil
	}
	if err := s.Flush(); err != nil {
		return 0, err
	}
	if len(p) <= outBufSize {
		*s.buf = append((*s.buf)[:headerLen], p...)
		return len(p), nil
	}
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+maxContent)]
		var hdr [headerLen]byte
		putHeader(hdr[:], typeStdout, s.req.id, len(chunk))
		if err := s.req.c.writevRecord(s.req, net.Buffers{hdr[:], chunk, zeros[:padLen(len(chunk))]}); err != nil {
			s.err = err
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// Flush sends what is buffered as one STDOUT record. The ResponseWriter's
// Flush calls it, so http.Flusher reaches the web server.
func (s *stdout) Flush() error {
	if s.err != nil {
		return s.err
	}
	if s.buf == nil || len(*s.buf) == headerLen {
		return nil
	}
	b := *s.buf
	n := len(b) - headerLen
	putHeader(b, typeStdout, s.req.id, n)
	b = append(b, zeros[:padLen(n)]...)
	err := s.req.c.writeRecord(s.req, b)
	*s.buf = b[:headerLen]
	if err != nil {
		s.err = err
	}
	return err
}

// finish returns the bytes that end the response: the pending STDOUT record
// if any, the empty STDOUT record and END_REQUEST. They are built in the
// pending buffer; release returns it to the pool once written.
func (s *stdout) finish(appStatus uint32) []byte {
	if s.buf == nil {
		s.buf = outBufPool.Get().(*[]byte)
	}
	b := *s.buf
	off := headerLen
	if n := len(b) - headerLen; n > 0 && s.err == nil {
		putHeader(b, typeStdout, s.req.id, n)
		b = append(b, zeros[:padLen(n)]...)
		off = 0
	} else {
		b = b[:headerLen]
	}
	b = appendHeader(b, typeStdout, s.req.id, 0)
	b = appendEndRequest(b, s.req.id, appStatus, statusRequestComplete)
	*s.buf = b
	return b[off:]
}

// release returns the buffer to the pool.
func (s *stdout) release() {
	if s.buf != nil {
		if cap(*s.buf) == outBufCap {
			*s.buf = (*s.buf)[:headerLen]
			outBufPool.Put(s.buf)
		}
		s.buf = nil
	}
	if s.err == nil {
		s.err = errFinished
	}
}

// writeRecord writes b (one or more whole records) for req, or for the
// connection when req is nil. Once END_REQUEST has been sent for req the
// write is dropped and an error returned, so nothing follows END_REQUEST.
func (c *conn) writeRecord(req *request, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if req != nil && req.ended {
		return req.endedErr()
	}
	return c.writeLocked(b, nil)
}

// writevRecord is writeRecord for a record in pieces.
func (c *conn) writevRecord(req *request, bufs net.Buffers) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if req != nil && req.ended {
		return req.endedErr()
	}
	return c.writeLocked(nil, bufs)
}

// writeLocked writes b, or else bufs, under wmu with the write timeout. A
// failed write kills the connection: the stream is no longer framed.
func (c *conn) writeLocked(b []byte, bufs net.Buffers) error {
	if c.werr != nil {
		return c.werr
	}
	if c.cfg.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.writeTimeout))
	}
	var err error
	if bufs == nil {
		_, err = c.sock.Write(b)
	} else {
		_, err = bufs.WriteTo(c.nc)
	}
	if err != nil {
		c.werr = fmt.Errorf("fastcgi: write to %s: %w", c.peer, err)
		c.kill()
		return c.werr
	}
	return nil
}

// end sends out (which ends with END_REQUEST) for req if req is still
// active, and reports whether it was. Exactly one caller wins for each
// request: the handler finishing, an ABORT_REQUEST, or an error answer.
func (c *conn) end(req *request, out []byte, aborted bool) bool {
	c.mu.Lock()
	if c.reqs[req.id] != req {
		c.mu.Unlock()
		return false
	}
	delete(c.reqs, req.id)
	if !req.started {
		c.slots--
	}
	c.mu.Unlock()
	req.stopTimer()

	c.wmu.Lock()
	req.ended, req.aborted = true, aborted
	// A pooled connection that is draining, or closes now, carries a nudge
	// after END_REQUEST, so that the web server does not pool it again.
	c.mu.Lock()
	nudge := c.nudgeAfterLocked(req.keep)
	c.mu.Unlock()
	if nudge {
		out = appendNudge(out, req.id)
	}
	_ = c.writeLocked(out, nil)
	// Only now, with END_REQUEST written, does the request stop counting as
	// active: the request whose answer makes the connection close is then
	// always the last to write, so no other END_REQUEST can be cut off by
	// the close.
	c.mu.Lock()
	c.active--
	closeNow := c.answeredLocked(req.keep)
	if nudge {
		c.nudged = true
	}
	c.mu.Unlock()
	// The end of the stream follows END_REQUEST at once, so that the web
	// server, which reads until it, most often finds both in one wake-up.
	shut := closeNow && c.closeWriteLocked()
	c.wmu.Unlock()

	switch {
	case shut:
		c.linger()
	case closeNow:
		c.kill()
	default:
		c.setIdleDeadline()
	}
	return true
}
