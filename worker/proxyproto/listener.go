package proxyproto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultTimeout bounds the wait for a header when NewListener's is 0.
const DefaultTimeout = 10 * time.Second

// Listener accepts connections from the listener it wraps and hands them
// on once their PROXY header is read, with the header's client as their
// RemoteAddr. Headers are read in a goroutine per connection, so a client
// that sends nothing holds no accept slot: the loop goes on accepting, and
// the silent connection is closed after the timeout. At most maxPending
// headers are read at once; beyond that the loop waits for one to finish
// (each finishes within the timeout).
//
// A connection with a missing or malformed header, or none within the timeout,
// is closed and reported to onError with its peer's address.
type Listener struct {
	net.Listener
	timeout    time.Duration
	maxPending int
	onError    func(peer string, err error)

	ready  chan net.Conn
	errs   chan error
	done   chan struct{}
	closed sync.Once
}

// NewListener wraps l and starts accepting on it. timeout 0 is
// DefaultTimeout, maxPending 0 is 1024; onError may be nil.
func NewListener(l net.Listener, timeout time.Duration, maxPending int, onError func(peer string, err error)) *Listener {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if maxPending <= 0 {
		maxPending = 1024
	}
	pl := &Listener{Listener: l, timeout: timeout, maxPending: maxPending, onError: onError,
		ready: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go pl.loop()
	return pl
}

// loop accepts until the wrapped listener fails. A temporary Accept error
// (EMFILE) is handed to the caller of Accept before the next Accept, so
// that the server's own back-off paces the loop; a permanent one (the
// listener closed) is returned by every Accept from then on.
func (l *Listener) loop() {
	sem := make(chan struct{}, l.maxPending)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !isTemporary(err) || errors.Is(err, net.ErrClosed) {
				l.fail(err)
				return
			}
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-l.done:
			c.Close()
			return
		}
		go func() {
			defer func() { <-sem }()
			pc, err := l.handshake(c)
			if err != nil {
				c.Close()
				if l.onError != nil {
					l.onError(c.RemoteAddr().String(), err)
				}
				return
			}
			select {
			case l.ready <- pc:
			case <-l.done:
				c.Close()
			}
		}()
	}
}

// fail hands err to every Accept from now on, until Close.
func (l *Listener) fail(err error) {
	for {
		select {
		case l.errs <- err:
		case <-l.done:
			return
		}
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (l *Listener) handshake(c net.Conn) (net.Conn, error) {
	if err := c.SetReadDeadline(time.Now().Add(l.timeout)); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 256)
	h, err := Read(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("closed before a PROXY protocol header")
		}
		if !errors.Is(err, ErrHeader) {
			return nil, fmt.Errorf("reading the PROXY protocol header: %w", err)
		}
		return nil, err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	pc := &Conn{Conn: c, Header: h}
	if n := br.Buffered(); n > 0 {
		pc.rest, _ = br.Peek(n)
	}
	if !h.Local {
		pc.remote = net.TCPAddrFromAddrPort(h.Source)
	}
	return pc, nil
}

// Accept returns the next connection whose header was read.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the wrapped listener; connections still sending their
// header are closed as they finish.
func (l *Listener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// Conn is a connection after its PROXY header: reads start with the bytes
// after the header, and RemoteAddr is the header's client (the real peer
// for LOCAL, UNKNOWN and AF_UNIX headers).
type Conn struct {
	net.Conn
	Header Header
	rest   []byte   // bytes read past the header
	remote net.Addr // nil: the real peer
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// RemoteAddr is the client the header named, or the real peer.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// ReadFrom keeps sendfile and splice working when the connection is
// written from a file (net/http's response ReadFrom).
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite half-closes the connection when it is TCP or Unix.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// SetLinger sets SO_LINGER when the connection is TCP (see net.TCPConn).
func (c *Conn) SetLinger(sec int) error {
	if sl, ok := c.Conn.(interface{ SetLinger(int) error }); ok {
		return sl.SetLinger(sec)
	}
	return nil
}
