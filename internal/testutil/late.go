package testutil

import (
	"net"
	"sync"
	"testing"
)

// LateListener is a listener whose Accept, once Close has been called,
// returns one more connection: what a server sees when its accept(2)
// succeeds in the same instant as its own Shutdown closes the listener. A
// server must serve that connection; its peer has sent a request no one
// else will see.
type LateListener struct {
	net.Listener
	late      net.Conn // the server's end, returned once after Close
	mu        sync.Mutex
	closed    chan struct{}
	once      sync.Once
	accepting chan struct{}
	aOnce     sync.Once
}

// NewLateListener listens on a loopback port and connects the late
// connection; the test writes its request on client and reads the response
// there. Both ends and the listener close when the test ends.
func NewLateListener(t testing.TB) (l *LateListener, client net.Conn) {
	t.Helper()
	side, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	client, err = net.Dial("tcp", side.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	late, err := side.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l = &LateListener{Listener: ln, late: late, closed: make(chan struct{}), accepting: make(chan struct{})}
	t.Cleanup(func() { client.Close(); late.Close(); ln.Close() })
	return l, client
}

// Accept returns the real listener's connections; after Close, the late
// connection once, then the close's error.
func (l *LateListener) Accept() (net.Conn, error) {
	l.aOnce.Do(func() { close(l.accepting) })
	c, err := l.Listener.Accept()
	if err == nil {
		return c, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
		if c := l.late; c != nil {
			l.late = nil
			return c, nil
		}
	default:
	}
	return nil, err
}

// Close closes the real listener; the next Accept returns the late
// connection.
func (l *LateListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Accepting is closed once the server has called Accept: from then on its
// Shutdown closes this listener.
func (l *LateListener) Accepting() <-chan struct{} { return l.accepting }
