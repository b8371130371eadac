package rawio

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		done <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestReadWrite(t *testing.T) {
	for _, size := range []int{1, 4096, MaxRawWrite, MaxRawWrite + 1, 1 << 20} {
		a, b := tcpPair(t)
		// A small send buffer makes the raw write meet EAGAIN and wait.
		if err := a.SetWriteBuffer(4096); err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		got := make(chan []byte, 1)
		go func() {
			r := New(b)
			var buf bytes.Buffer
			p := make([]byte, 1000)
			for buf.Len() < size {
				n, err := r.Read(p)
				buf.Write(p[:n])
				if err != nil {
					break
				}
			}
			got <- buf.Bytes()
		}()
		n, err := New(a).Write(msg)
		if n != size || err != nil {
			t.Fatalf("%d bytes: wrote %d, %v", size, n, err)
		}
		if g := <-got; !bytes.Equal(g, msg) {
			t.Fatalf("%d bytes: read %d bytes, not what was written", size, len(g))
		}
	}
}

// The errors are net.Conn's: io.EOF, the deadline, the closed connection,
// and an errno in a *net.OpError.
func TestErrors(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		a, b := tcpPair(t)
		a.Close()
		if n, err := New(b).Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("%d, %v; want 0, io.EOF", n, err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		_, b := tcpPair(t)
		b.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := New(b).Read(make([]byte, 10))
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%v; want a timeout", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		_, b := tcpPair(t)
		r := New(b)
		b.Close()
		if _, err := r.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read: %v; want net.ErrClosed", err)
		}
		if _, err := r.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write: %v; want net.ErrClosed", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		a, b := tcpPair(t)
		b.SetLinger(0)
		b.Close() // an RST
		w := New(a)
		var err error
		deadline := time.Now().Add(10 * time.Second)
		for err == nil && time.Now().Before(deadline) {
			_, err = w.Write([]byte("after the reset"))
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "write" || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			t.Fatalf("%#v; want a *net.OpError with ECONNRESET or EPIPE", err)
		}
	})
}

// Recvmsg takes the descriptors that come with the bytes.
func TestRecvmsgRights(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "pair")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := fds[1]
	defer func() {
		if peer >= 0 {
			syscall.Close(peer)
		}
	}()
	file, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if err := syscall.Sendmsg(peer, []byte("fd"), syscall.UnixRights(int(file.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	r := New(c)
	p, oob := make([]byte, 16), make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, err := r.Recvmsg(p, oob)
	if err != nil || string(p[:n]) != "fd" {
		t.Fatalf("%q, %v", p[:n], err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d control messages, %v", len(msgs), err)
	}
	got, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != 1 {
		t.Fatalf("rights %v, %v", got, err)
	}
	defer syscall.Close(got[0])
	flags, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(got[0]), syscall.F_GETFD, 0)
	if e != 0 || flags&syscall.FD_CLOEXEC == 0 {
		t.Fatalf("the descriptor is not close-on-exec: flags %d, %v", flags, e)
	}
	syscall.Close(peer)
	peer = -1 // closed once: the number may be reused at once
	if _, _, err := r.Recvmsg(p, oob); err != io.EOF {
		t.Fatalf("after the peer closed: %v; want io.EOF", err)
	}
}

// Only a bare TCP or unix connection has a raw side: a wrapper may hold
// bytes of its own (TLS, the PROXY protocol's rest), and ReadWriter gives
// it back unchanged.
func TestNewOnlyBareSockets(t *testing.T) {
	a, b := tcpPair(t)
	pa, pb := net.Pipe()
	defer pa.Close()
	defer pb.Close()
	wrapped := struct{ *net.TCPConn }{a}
	for _, tc := range []struct {
		name string
		c    net.Conn
		raw  bool
	}{
		{"TCP", b, true},
		{"TLS", tls.Client(a, &tls.Config{}), false},
		{"a wrapper around TCP", wrapped, false},
		{"net.Pipe", pa, false},
	} {
		if got := New(tc.c) != nil; got != tc.raw {
			t.Errorf("%s: raw side %v, want %v", tc.name, got, tc.raw)
		}
		if rw := ReadWriter(tc.c); !tc.raw && rw != io.ReadWriter(tc.c) {
			t.Errorf("%s: ReadWriter is not the connection itself", tc.name)
		}
	}
}
