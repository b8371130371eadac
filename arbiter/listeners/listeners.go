// Package listeners binds the master's listening sockets and keeps them as
// raw, non-blocking, close-on-exec file descriptors to pass to workers.
//
// The master never accepts. It never calls os.File.Fd on a socket either,
// since that switches the shared file description to blocking mode in every
// process (golang/go#29277): descriptors are duplicated with F_DUPFD_CLOEXEC
// inside SyscallConn().Control instead.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

// Listener is one bound socket.
type Listener struct {
	Spec config.Listen
	FD   int    // non-blocking, close-on-exec; owned by the Listener
	Addr string // the bound address ("127.0.0.1:41234", "/run/app.sock")

	unlink string // a unix socket file this process created, removed by Close
	ino    uint64 // its inode, so that Close never removes someone else's file
}

// Open binds every spec. On error it closes what it had opened; the error
// names the address.
func Open(specs []config.Listen, backlog int) ([]*Listener, error) {
	var out []*Listener
	for _, s := range specs {
		l, err := open(s, backlog)
		if err != nil {
			CloseAll(out)
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// CloseAll closes every listener, ignoring errors.
func CloseAll(ls []*Listener) {
	for _, l := range ls {
		l.Close()
	}
}

func open(s config.Listen, backlog int) (*Listener, error) {
	switch {
	case strings.HasPrefix(s.Address, "unix:"):
		return openUnix(s, strings.TrimPrefix(s.Address, "unix:"), backlog)
	case strings.HasPrefix(s.Address, "fd://"):
		return openFD(s)
	case strings.HasPrefix(s.Address, "systemd:"):
		return nil, fmt.Errorf("listen %s: systemd passed no socket of that name or index (is the .socket unit's FileDescriptorName= right, and was arbiter started by socket activation?)", s.Address)
	default:
		return openTCP(s, backlog)
	}
}

func openTCP(s config.Listen, backlog int) (*Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", s.Address)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", s.Address, err)
	}
	defer ln.Close()
	fd, err := dupListener(ln.(*net.TCPListener), backlog)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", s.Address, err)
	}
	return &Listener{Spec: s, FD: fd, Addr: ln.Addr().String()}, nil
}

func openUnix(s config.Listen, path string, backlog int) (*Listener, error) {
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("bind unix:%s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("bind unix:%s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	defer ln.Close()
	l := &Listener{Spec: s, Addr: path, unlink: path}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err == nil {
		l.ino = st.Ino
	}
	if s.Mode != 0 {
		if err := os.Chmod(path, os.FileMode(s.Mode)); err != nil {
			_ = os.Remove(path)
			return nil, fmt.Errorf("bind unix:%s: %w", path, err)
		}
	}
	if l.FD, err = dupListener(ln, backlog); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("bind unix:%s: %w", path, err)
	}
	return l, nil
}

// removeStale removes path if it is a socket nobody listens on. A live
// socket is "address in use"; anything that is not a socket is left alone.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: address in use (another server listens on it)", path)
	}
	return os.Remove(path)
}

func openFD(s config.Listen) (*Listener, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s.Address, "fd://"))
	if err != nil || n < 3 {
		return nil, fmt.Errorf("listen %s: not a file descriptor number of 3 or more", s.Address)
	}
	if err := checkListening(n); err != nil {
		return nil, fmt.Errorf("listen %s: %w", s.Address, err)
	}
	if err := unix.SetNonblock(n, true); err != nil {
		return nil, fmt.Errorf("listen %s: %w", s.Address, err)
	}
	fd, err := unix.FcntlInt(uintptr(n), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("listen %s: dup: %w", s.Address, err)
	}
	unix.Close(n)
	return &Listener{Spec: s, FD: fd, Addr: localAddr(fd, s.Address)}, nil
}

// checkListening reports whether fd is a listening stream socket.
func checkListening(fd int) error {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("not a socket: %w", err)
	}
	if typ != unix.SOCK_STREAM {
		return fmt.Errorf("not a stream socket")
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("socket state: %w", err)
	}
	if acc != 1 {
		return fmt.Errorf("socket is not listening")
	}
	return nil
}

func localAddr(fd int, fallback string) string {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fallback
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrUnix:
		return a.Name
	}
	return fallback
}

// dupListener duplicates a Go listener's socket close-on-exec without
// touching its blocking mode, and applies backlog with a second listen(2),
// which Linux allows on a listening socket.
func dupListener(ln syscall.Conn, backlog int) (int, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var opErr error
	if err := rc.Control(func(s uintptr) {
		fd, opErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 3)
	}); err != nil {
		return -1, err
	}
	if opErr != nil {
		return -1, fmt.Errorf("dup: %w", opErr)
	}
	if backlog > 0 {
		if err := unix.Listen(fd, backlog); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("listen backlog %d: %w", backlog, err)
		}
	}
	return fd, nil
}

// Close closes the socket and removes the unix socket file this process
// created, if it is still the same file.
func (l *Listener) Close() error {
	if l.FD < 0 {
		return nil
	}
	err := unix.Close(l.FD)
	l.FD = -1
	if l.unlink != "" {
		var st unix.Stat_t
		if unix.Lstat(l.unlink, &st) == nil && st.Ino == l.ino && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			_ = os.Remove(l.unlink)
		}
	}
	return err
}

// Activated reports whether the socket came from systemd socket activation:
// such a socket belongs to systemd, so a reload never closes it.
func (l *Listener) Activated() bool { return strings.HasPrefix(l.Spec.Address, "systemd:") }

// Chown gives a unix socket file this process created to uid:gid (the
// workers' user); other listeners are left alone.
func (l *Listener) Chown(uid, gid int) error {
	if l.unlink == "" {
		return nil
	}
	if err := os.Lchown(l.unlink, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", l.unlink, err)
	}
	return nil
}

// Nonblocking reports whether fd's file description is in non-blocking mode.
func Nonblocking(fd int) (bool, error) {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return false, err
	}
	return flags&unix.O_NONBLOCK != 0, nil
}
