package listeners

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

func TestOpenKinds(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "a.sock")
	ls, err := Open([]config.Listen{
		{Address: "127.0.0.1:0", Protocol: "http"},
		{Address: "[::1]:0", Protocol: "http"},
		{Address: "unix:" + sock, Protocol: "fastcgi", Mode: 0o660},
	}, 128)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		nb, err := Nonblocking(l.FD)
		if err != nil || !nb {
			t.Errorf("%s: non-blocking = %v, %v", l.Addr, nb, err)
		}
		flags, _ := unix.FcntlInt(uintptr(l.FD), unix.F_GETFD, 0)
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: not close-on-exec", l.Addr)
		}
		network := "tcp"
		if l.Addr == sock {
			network = "unix"
		}
		c, err := net.Dial(network, l.Addr)
		if err != nil {
			t.Errorf("dial %s: %v", l.Addr, err)
			continue
		}
		c.Close()
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	CloseAll(ls)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
}

func TestUnixStaleAndLive(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	// A stale socket file (nobody listens) is removed and rebound.
	ln, _ := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ls, err := Open([]config.Listen{{Address: "unix:" + sock}}, 16)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// A live one is "address in use", and its file is left alone.
	if _, err := Open([]config.Listen{{Address: "unix:" + sock}}, 16); err == nil {
		t.Fatal("bound over a live socket")
	}
	CloseAll(ls)
	// A regular file is never removed.
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("x"), 0o644)
	if _, err := Open([]config.Listen{{Address: "unix:" + plain}}, 16); err == nil {
		t.Fatal("bound over a regular file")
	}
	if _, err := os.Stat(plain); err != nil {
		t.Fatal("regular file removed")
	}
}

func TestFD(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var n int
	rc, _ := ln.(*net.TCPListener).SyscallConn()
	rc.Control(func(fd uintptr) { n, _ = unix.Dup(int(fd)) })
	ls, err := Open([]config.Listen{{Address: "fd://" + strconv.Itoa(n)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(ls)
	if ls[0].Addr != ln.Addr().String() {
		t.Errorf("fd listener address %q, want %q", ls[0].Addr, ln.Addr())
	}
	if _, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0); err == nil {
		t.Error("original fd still open")
	}
	// Not a socket, and a socket that does not listen, are refused.
	f, _ := os.Open(os.DevNull)
	defer f.Close()
	if _, err := Open([]config.Listen{{Address: "fd://" + strconv.Itoa(int(f.Fd()))}}, 0); err == nil {
		t.Error("accepted /dev/null as a listener")
	}
	s, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	defer unix.Close(s)
	if _, err := Open([]config.Listen{{Address: "fd://" + strconv.Itoa(s)}}, 0); err == nil {
		t.Error("accepted a socket that does not listen")
	}
}

func TestBindError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if _, err := Open([]config.Listen{{Address: "127.0.0.1:0"}, {Address: ln.Addr().String()}}, 16); err == nil {
		t.Fatal("bound a port in use")
	}
}
