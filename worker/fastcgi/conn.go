package fastcgi

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/worker/rawio"
)

// readBufSize is the connection's read buffer. STDIN content bigger than it
// is read straight into the request's body buffer.
const readBufSize = 16 << 10

// lingerTimeout bounds how long a connection that is closing reads and
// discards what the web server still sends after the last END_REQUEST and
// our FIN, so that closing does not reset the connection under a response
// it has not read yet.
const lingerTimeout = 500 * time.Millisecond

// drainIdle is how long, during a drain, a connection that has not been
// nudged (no KEEP_CONN request on it yet) may sit idle before it is closed
// (at most the idle timeout).
const drainIdle = time.Second

// quietIdle is the shorter idle time of a drain's second half
// (Server.Shutdown) for such a connection.
const quietIdle = 50 * time.Millisecond

// nudgeWait is how long a nudged connection (see nudge) may stay idle
// before it is closed: the web server has by then closed it, as nginx does
// at once, or ignores nudges.
const nudgeWait = time.Second

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// errClosing is what writes get once the connection has begun to close.
var errClosing = errors.New("fastcgi: connection closing")

// conn is one web server connection. A single goroutine (serve) reads and
// dispatches records; each request's handler runs in its own goroutine;
// writes from all of them are serialized by wmu, one record (or one
// response tail) at a time. Where both are held (end), wmu is taken first.
type conn struct {
	srv  *Server
	cfg  *settings
	nc   net.Conn
	sock io.ReadWriter // nc, or its raw side (rawio.ReadWriter): records are read and written here
	br   *bufio.Reader
	peer string

	// ctx is the parent of every request's context: cancelled when the
	// peer goes away, on a protocol error, and by Close.
	ctx    context.Context
	cancel context.CancelFunc
	dead   chan struct{} // closed by kill: the socket is closed
	once   sync.Once

	mu         sync.Mutex
	reqs       map[uint16]*request // active requests: BEGIN received, END_REQUEST not sent
	active     int                 // len(reqs)
	slots      int                 // requests holding a MaxRequests slot (active, or handler still running)
	mpx        bool                // the peer has had two requests active at once
	closeAfter bool                // a KEEP_CONN=0 request was answered: close when no request is active
	closing    bool                // no more requests; the read loop discards what still arrives
	shutdown   bool                // Server.Shutdown: a drain; close once idle for drainIdle
	quiet      bool                // the drain's second half: close once idle for quietIdle
	lastID     uint16              // the last request's id
	lastKeep   bool                // the last request had KEEP_CONN: the peer pools the connection
	nudged     bool                // a nudge went out since the last request began

	wmu  sync.Mutex
	werr error // sticky write error

	handlers sync.WaitGroup
}

func newConn(s *Server, cfg *settings, nc net.Conn) *conn {
	c := &conn{
		srv:  s,
		cfg:  cfg,
		nc:   nc,
		sock: rawio.ReadWriter(nc),
		dead: make(chan struct{}),
		reqs: make(map[uint16]*request),
	}
	if a := nc.RemoteAddr(); a != nil {
		c.peer = a.String()
	}
	if a := nc.LocalAddr(); (c.peer == "" || c.peer == "@") && a != nil {
		c.peer = a.Network() + ":" + a.String() // a Unix socket peer has no name
	}
	base := context.Background()
	if s.BaseContext != nil {
		base = s.BaseContext
	}
	c.ctx, c.cancel = context.WithCancel(base)
	return c
}

// serve runs the read loop until the connection ends, then waits for the
// connection's handlers. It never panics: a bug surfacing here is logged
// and closes this connection only.
func (c *conn) serve() {
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.sock)
	defer c.teardown()
	defer func() {
		if p := recover(); p != nil {
			c.srv.Log.Bad(c.peer, fmt.Errorf("fastcgi: internal error serving connection: %v\n%s", p, debug.Stack()))
			c.kill()
		}
	}()
	c.setIdleDeadline()
	for {
		h, err := c.readHeader()
		if isTimeout(err) && c.nudgeIdle() {
			continue
		}
		if err == nil {
			err = c.dispatch(h)
		}
		if err == errDrain {
			// Closing: discard the rest unparsed until the peer closes
			// or the linger deadline passes.
			_, _ = c.br.WriteTo(io.Discard)
			return
		}
		if err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				if !c.isClosing() {
					c.srv.Log.Bad(c.peer, err)
				}
				c.kill()
			}
			return
		}
	}
}

// errDrain tells the read loop that the connection is closing.
var errDrain = errors.New("fastcgi: draining")

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// teardown runs when the read loop has ended: the peer went away, sent
// something invalid, the connection timed out, or it was closed. Requests
// still waiting for their params are dropped; running handlers see their
// context cancelled and their body end with io.ErrUnexpectedEOF, and may
// still write (a peer that only half-closed gets its responses). The
// socket is closed once they have all returned.
func (c *conn) teardown() {
	c.cancel()
	c.mu.Lock()
	c.closing = true
	var running []*request
	for id, r := range c.reqs {
		if !r.started {
			delete(c.reqs, id)
			c.active--
			c.slots--
			r.stopTimer()
			continue
		}
		running = append(running, r)
	}
	c.mu.Unlock()
	for _, r := range running {
		r.body.fail(io.ErrUnexpectedEOF)
	}
	c.handlers.Wait()
	c.kill()
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.srv.forget(c)
}

// kill closes the socket and cancels every request's context. Writes fail
// from then on; the read loop ends.
func (c *conn) kill() {
	c.once.Do(func() {
		_ = c.nc.Close() // first: a handler woken by the cancel must find it closed
		close(c.dead)
		c.cancel()
	})
}

// readHeader reads the next record header. It peeks before consuming, so a
// read that times out leaves the buffer intact.
func (c *conn) readHeader() (header, error) {
	b, err := c.br.Peek(headerLen)
	if err != nil {
		return header{}, err
	}
	h, err := parseHeader(b)
	if err != nil {
		return header{}, err
	}
	_, _ = c.br.Discard(headerLen)
	return h, nil
}

// skip discards n bytes of input.
func (c *conn) skip(n int) error {
	if n == 0 {
		return nil
	}
	_, err := c.br.Discard(n)
	return err
}

// readSmall returns the next n bytes (n at most maxContent). The slice is
// valid until the next read; it is copied only when n exceeds the buffer.
func (c *conn) readSmall(n int) ([]byte, error) {
	if n <= c.br.Size() {
		b, err := c.br.Peek(n)
		if err != nil {
			return nil, err
		}
		_, _ = c.br.Discard(n)
		return b, nil
	}
	b := make([]byte, n)
	_, err := io.ReadFull(c.br, b)
	return b, err
}

// dispatch handles one record whose header has been read.
func (c *conn) dispatch(h header) error {
	c.mu.Lock()
	closing := c.closing
	var req *request
	if h.id != 0 {
		req = c.reqs[h.id]
	}
	c.mu.Unlock()

	if closing {
		return errDrain
	}
	var err error
	switch {
	case h.id == 0:
		err = c.management(h)
	case h.typ == typeBeginRequest:
		if req != nil {
			return protoErrorf("BEGIN_REQUEST for request %d, which is active", h.id)
		}
		err = c.begin(h)
	case req == nil:
		// Records for inactive requests are ignored (§3.3): late STDIN
		// after we answered, or an ABORT that crossed our END_REQUEST.
		err = c.skip(h.length)
	case h.typ == typeParams:
		err = c.params(req, h)
	case h.typ == typeStdin:
		err = c.stdin(req, h)
	case h.typ == typeAbortRequest:
		if err = c.skip(h.length); err == nil {
			c.abort(req)
		}
	default:
		// DATA (FILTER role only) and any other type on a request id are
		// skipped.
		err = c.skip(h.length)
	}
	if err != nil {
		return err
	}
	return c.skip(h.padding)
}

// management answers a record with request id 0: GET_VALUES gets one
// GET_VALUES_RESULT with the values we know, every other type gets
// UNKNOWN_TYPE (as the reference library answers).
func (c *conn) management(h header) error {
	if h.typ != typeGetValues {
		if err := c.skip(h.length); err != nil {
			return err
		}
		var rec [16]byte
		return c.writeRecord(nil, appendUnknownType(rec[:0], h.typ))
	}
	b, err := c.readSmall(h.length)
	if err != nil {
		return err
	}
	var seen [3]bool
	var content []byte
	err = parseParams(string(b), func(name, _ string) {
		i, v := -1, ""
		switch name {
		case "FCGI_MAX_CONNS":
			i, v = 0, strconv.Itoa(c.cfg.maxConnsValue)
		case "FCGI_MAX_REQS":
			i, v = 1, strconv.Itoa(c.cfg.maxRequests)
		case "FCGI_MPXS_CONNS":
			i, v = 2, "0"
			if c.cfg.maxRequests > 1 {
				v = "1"
			}
		}
		if i >= 0 && !seen[i] {
			seen[i] = true
			content = appendParam(content, name, v)
		}
	})
	if err != nil {
		return protoErrorf("GET_VALUES: %v", err)
	}
	return c.writeRecord(nil, appendRecord(nil, typeGetValuesResult, 0, content))
}

// begin handles BEGIN_REQUEST for an inactive id.
func (c *conn) begin(h header) error {
	if h.length != 8 {
		return protoErrorf("BEGIN_REQUEST with %d content bytes, want 8", h.length)
	}
	b, err := c.readSmall(8)
	if err != nil {
		return err
	}
	role := binary.BigEndian.Uint16(b[0:2])
	keep := b[2]&flagKeepConn != 0

	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	status := -1
	switch {
	case role != roleResponder:
		status = statusUnknownRole
	case c.slots >= c.cfg.maxRequests:
		status = statusOverloaded
		if c.cfg.maxRequests == 1 {
			status = statusCantMpxConn
		}
	}
	if status >= 0 {
		closeNow := c.answeredLocked(keep)
		c.mu.Unlock()
		var rec [16]byte
		err := c.writeRecord(nil, appendEndRequest(rec[:0], h.id, 0, uint8(status)))
		if closeNow {
			c.startClose()
		}
		return err
	}
	req := newRequest(c, h.id, keep)
	c.reqs[h.id] = req
	c.active++
	c.lastID, c.lastKeep, c.nudged = h.id, keep, false
	c.slots++
	// Requests, not active: a request counts as active until its
	// END_REQUEST is written, and a peer that sends its next BEGIN_REQUEST
	// as soon as it reads that (nginx) would look like multiplexing.
	if len(c.reqs) > 1 {
		c.mpx = true
	}
	if c.active == 1 && (c.cfg.idleTimeout > 0 || c.shutdown) {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	req.startTimer()
	return nil
}

// answeredLocked records that a request with the given KEEP_CONN flag has
// been answered and reports whether the connection should now close: when
// a KEEP_CONN=0 request (or the end of a drain, finishDrain) asked for it
// and nothing is active. c.mu is held.
func (c *conn) answeredLocked(keep bool) bool {
	if !keep {
		c.closeAfter = true
	}
	if c.closeAfter && c.active == 0 && !c.closing {
		c.closing = true
		return true
	}
	return false
}

// setIdleDeadline arms the idle timeout if no request is active; during a
// drain, the shorter drain idle time (quietIdle in its second half).
func (c *conn) setIdleDeadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.cfg.idleTimeout
	limit := drainIdle
	if c.quiet {
		limit = quietIdle
	}
	switch {
	case c.nudged:
		d = nudgeWait
	case c.shutdown && c.canNudgeLocked():
		d = time.Nanosecond // nudge now (serve's read times out)
	case c.shutdown && (d <= 0 || d > limit):
		d = limit
	}
	if d > 0 && c.active == 0 && !c.closing {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
}

// startClose ends the connection gracefully after its last END_REQUEST:
// shut down our side for writing, then let the read loop discard what the
// peer still sends until it closes too, for at most lingerTimeout. Without
// CloseWrite (not a TCP or Unix socket) the connection is closed at once.
func (c *conn) startClose() {
	c.wmu.Lock()
	ok := c.closeWriteLocked()
	c.wmu.Unlock()
	if ok {
		c.linger()
		return
	}
	c.kill()
}

// closeWriteLocked shuts down our side for writing and reports whether it
// did; nothing is written after it. The caller holds wmu.
func (c *conn) closeWriteLocked() bool {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || c.werr != nil {
		return false
	}
	c.werr = errClosing
	return cw.CloseWrite() == nil
}

// linger lets the read loop discard what the peer still sends after our
// side was shut down, until it closes too or lingerTimeout passes; the
// connection is closed at once if the deadline cannot be set.
func (c *conn) linger() {
	if c.nc.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
		c.kill()
	}
}

// beginShutdown starts the connection's drain: requests keep being served;
// an idle pooled connection is nudged at once, a busy one after its
// response (end), so that the web server closes it; a connection that was
// never pooled closes once it has been idle for drainIdle. A peer that sent
// KEEP_CONN=0 still gets its close after END_REQUEST.
func (c *conn) beginShutdown() {
	c.mu.Lock()
	c.shutdown = true
	c.mu.Unlock()
	c.setIdleDeadline()
}

// quietDrain makes the drain close the connection once it has been idle
// for quietIdle. Shutdown calls it halfway to its deadline.
func (c *conn) quietDrain() {
	c.mu.Lock()
	c.shutdown, c.quiet = true, true
	c.mu.Unlock()
	c.setIdleDeadline()
}

// finishDrain closes the connection at the next request boundary: at once
// if it is idle, else after the END_REQUEST (and nudge) that leaves it
// idle. Shutdown calls it three quarters of the way to its deadline, for a
// peer that ignores nudges and never lets a connection go quiet.
func (c *conn) finishDrain() {
	c.mu.Lock()
	c.closeAfter = true
	idle := c.active == 0 && !c.closing
	if idle {
		c.closing = true
	}
	c.mu.Unlock()
	if idle {
		c.startClose()
	}
}

// abort handles ABORT_REQUEST: END_REQUEST goes out now, then the request's
// context is cancelled and its body fails with ErrAborted. A handler still
// running keeps its slot until it returns; its writes are dropped.
func (c *conn) abort(req *request) {
	// END_REQUEST first: once the handler sees its context end, every
	// write it makes is already refused.
	var rec [16]byte
	c.end(req, appendEndRequest(rec[:0], req.id, 1, statusRequestComplete), true)
	req.cancel()
	req.body.fail(ErrAborted)
}

// waitRoom waits until req's full body buffer has room. While req is the
// only request on a connection whose peer has never multiplexed, it waits
// as long as it takes (TCP back-pressure: nothing else can be queued behind
// it). Otherwise it waits at most the stall limit for the handler to read
// something, then gives up on the body (ErrBodyStalled) so that the other
// requests keep moving.
func (c *conn) waitRoom(req *request, room <-chan struct{}) error {
	c.mu.Lock()
	sole := c.active == 1 && !c.mpx
	c.mu.Unlock()
	if sole {
		select {
		case <-room:
			return nil
		case <-c.dead:
			return net.ErrClosed
		}
	}
	t := time.NewTimer(c.cfg.stallLimit)
	defer t.Stop()
	select {
	case <-room:
	case <-t.C:
		req.body.fail(ErrBodyStalled)
	case <-c.dead:
		return net.ErrClosed
	}
	return nil
}
