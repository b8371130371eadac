package proxyproto

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

type reported struct {
	peer string
	err  error
}

func listen(t *testing.T, timeout time.Duration) (*Listener, chan reported) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan reported, 8)
	l := NewListener(inner, timeout, 0, func(peer string, err error) { errs <- reported{peer, err} })
	t.Cleanup(func() { l.Close() })
	return l, errs
}

func dial(t *testing.T, l net.Listener, send string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if send != "" {
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// A silent client does not hold up the accept loop: a connection that
// sends its header after it is handed on first, and the silent one is
// closed and reported after the timeout.
func TestListenerSilentClientDoesNotBlockAccept(t *testing.T) {
	l, errs := listen(t, 500*time.Millisecond)
	silent := dial(t, l, "")
	dial(t, l, "PROXY TCP4 203.0.113.7 192.0.2.1 4711 80\r\nhello")

	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != "203.0.113.7:4711" {
		t.Fatalf("RemoteAddr = %q", got)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v: the bytes after the header are lost", buf, err)
	}

	select {
	case r := <-errs:
		if r.peer != silent.LocalAddr().String() {
			t.Errorf("reported peer %q, want the silent client %q", r.peer, silent.LocalAddr())
		}
		var ne net.Error
		if !errors.As(r.err, &ne) || !ne.Timeout() {
			t.Errorf("reported %v, want a timeout", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the silent client was never timed out")
	}
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(buf); err != io.EOF {
		t.Fatalf("silent client read %v, want EOF (closed by the listener)", err)
	}
}

func TestListenerBadHeaderClosesAndReports(t *testing.T) {
	l, errs := listen(t, 5*time.Second)
	for _, send := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 999.1.1.1 1.1.1.1 1 1\r\n"} {
		c := dial(t, l, send)
		r := <-errs
		if r.peer != c.LocalAddr().String() || !errors.Is(r.err, ErrHeader) {
			t.Errorf("%q: reported %q %v", send, r.peer, r.err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := bufio.NewReader(c).ReadByte(); err != io.EOF && !isReset(err) {
			t.Errorf("%q: read %v, want the connection closed", send, err)
		}
	}
	// An early close is reported too, and does not stop the listener.
	c := dial(t, l, "PROX")
	c.Close()
	if r := <-errs; r.err == nil {
		t.Error("early close not reported")
	}
	dial(t, l, "PROXY UNKNOWN\r\n")
	ok, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	if pc := ok.(*Conn); !pc.Header.Local || ok.RemoteAddr().String() != pc.Conn.RemoteAddr().String() {
		t.Errorf("UNKNOWN: RemoteAddr %v, want the real peer %v", ok.RemoteAddr(), pc.Conn.RemoteAddr())
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

func TestListenerClose(t *testing.T) {
	l, _ := listen(t, time.Second)
	done := make(chan error)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Accept: %v", err)
	}
}
