// Package rawio reads and writes a connection's non-blocking socket with
// raw system calls (syscall.RawSyscall inside syscall.RawConn's Read and
// Write) instead of the runtime's blocking-syscall path.
//
// Why: a worker runs with GOMAXPROCS=1 and goes idle between requests
// while its app works. Every ordinary syscall after such an idle spell
// wakes the runtime's sysmon thread, which then polls every 20 µs for a
// while, and retakes the P of any syscall that spans a poll. On a 2-CPU
// machine serving Flask, that was 0.86 sysmon wake-ups and 13.5 µs of the
// worker's CPU a request; with the socket I/O of the request path raw,
// 0.03 wake-ups, and the worker's CPU a request fell by about a sixth
// (docs/benchmarks.md). A raw call never sleeps in the kernel, because the
// socket is non-blocking: when it would block (EAGAIN), RawConn parks the
// goroutine on the poller as net.Conn does, and deadlines and Close work
// as they do for the connection itself.
//
// Under the race detector (the race build tag) the calls are the syscall
// package's Read, Write and Recvmsg instead, whose annotations give the
// detector the ordering that I/O between goroutines implies; everything
// else is the same.
//
// Edges: while a raw call runs, its P runs nothing else; a write is
// therefore raw only up to MaxRawWrite bytes, and a longer one takes the
// connection's own Write. Errors are what net.Conn gives: io.EOF at the end
// of the stream, a *net.OpError wrapping the errno, os.ErrDeadlineExceeded
// or net.ErrClosed. Any other connection (TLS, a wrapper, net.Pipe) has no
// Conn: New returns nil, and ReadWriter the connection itself.
package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// MaxRawWrite is the longest write made with a raw call; a request's
// response head and a small body fit in it.
const MaxRawWrite = 64 << 10

// Conn is c's descriptor for raw reads and writes. It is used from one
// goroutine at a time for reading (Read or Recvmsg) and one for writing,
// as net.Conn is. The callbacks RawConn runs are made once, in New, and
// the state of the operation in flight lives here, so that a call does
// not allocate.
type Conn struct {
	c  net.Conn
	rc syscall.RawConn

	rd      op // Read and Recvmsg
	wr      op // Write
	readFn  func(uintptr) bool
	recvFn  func(uintptr) bool
	writeFn func(uintptr) bool
	oob     []byte
	oobn    int
}

// op is one read or write in flight: its buffer, the bytes done, the errno
// that ended it.
type op struct {
	p     []byte
	n     int
	errno syscall.Errno
}

// New returns c's raw side, or nil unless c is a *net.TCPConn or a
// *net.UnixConn: a wrapper (TLS, the PROXY protocol's) may hold bytes of
// its own that a raw read would skip.
func New(c net.Conn) *Conn {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	rw := &Conn{c: c, rc: rc}
	rw.readFn, rw.recvFn, rw.writeFn = rw.doRead, rw.doRecvmsg, rw.doWrite
	return rw
}

// ReadWriter is c's raw side, or c itself when it has none (see New).
func ReadWriter(c net.Conn) io.ReadWriter {
	if r := New(c); r != nil {
		return r
	}
	return c
}

// Read reads into p with one read(2), waiting on the poller while there
// is nothing to read. It is not Recvmsg without control messages: under
// -race, syscall.Read carries the detector's annotations for the ordering
// that I/O gives, and syscall.Recvmsg does not.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rd = op{p: p}
	err := c.rc.Read(c.readFn)
	n, errno := c.rd.n, c.rd.errno
	c.rd = op{}
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) doRead(fd uintptr) bool {
	for {
		n, e := sysRead(fd, c.rd.p)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rd.n, c.rd.errno = n, e
		return true
	}
}

// Write writes all of p, waiting on the poller while the socket's buffer
// is full; past MaxRawWrite it is the connection's own Write.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) > MaxRawWrite {
		return c.c.Write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.wr = op{p: p}
	err := c.rc.Write(c.writeFn)
	n, errno := c.wr.n, c.wr.errno
	c.wr = op{}
	if err == nil && errno != 0 {
		err = c.opError("write", errno)
	}
	return n, err
}

func (c *Conn) doWrite(fd uintptr) bool {
	for c.wr.n < len(c.wr.p) {
		n, e := sysWrite(fd, c.wr.p[c.wr.n:])
		switch e {
		case 0:
			c.wr.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.wr.errno = e
			return true
		}
	}
	return true
}

// Recvmsg is one recvmsg(2) into p, with the control messages (passed
// descriptors, close-on-exec) in oob; it returns the lengths of both.
func (c *Conn) Recvmsg(p, oob []byte) (n, oobn int, err error) {
	if len(p) == 0 {
		return 0, 0, nil
	}
	c.rd, c.oob, c.oobn = op{p: p}, oob, 0
	rerr := c.rc.Read(c.recvFn)
	n, oobn, errno := c.rd.n, c.oobn, c.rd.errno
	c.rd, c.oob = op{}, nil
	switch {
	case rerr != nil:
		return 0, 0, rerr
	case errno != 0:
		return 0, 0, c.opError("read", errno)
	case n == 0 && oobn == 0:
		return 0, 0, io.EOF
	}
	return n, oobn, nil
}

func (c *Conn) doRecvmsg(fd uintptr) bool {
	for {
		n, oobn, e := sysRecvmsg(fd, c.rd.p, c.oob)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rd.n, c.oobn, c.rd.errno = n, oobn, e
		return true
	}
}

// opError is the error net.Conn gives for errno.
func (c *Conn) opError(op string, errno syscall.Errno) error {
	e := &net.OpError{Op: op, Err: os.NewSyscallError(op, errno)}
	if la := c.c.LocalAddr(); la != nil && !isNilAddr(la) {
		e.Net, e.Source = la.Network(), la
	}
	if ra := c.c.RemoteAddr(); ra != nil && !isNilAddr(ra) {
		e.Addr = ra
	}
	return e
}

// isNilAddr reports a typed nil, which a socket pair's unix conn gives.
func isNilAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.UnixAddr:
		return a == nil
	case *net.TCPAddr:
		return a == nil
	}
	return false
}
