package systemd

import (
	"fmt"
	"strconv"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Socket is one socket passed by socket activation.
type Socket struct {
	FD    int    // a close-on-exec duplicate, owned by the caller
	Name  string // FileDescriptorName= of the .socket unit, or "LISTEN_FD_<n>"
	Index int    // position among the passed sockets, from 0
}

// Sockets returns the sockets systemd passed to this process, and removes
// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES from the environment so that no
// child takes them for its own. Sockets meant for another pid (LISTEN_PID)
// are not ours: the result is empty. The descriptors are duplicated
// close-on-exec and the originals closed, so the caller owns plain fds.
func Sockets() ([]Socket, error) {
	files := activation.Files(true)
	var out []Socket
	for i, f := range files {
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		f.Close()
		if err != nil {
			for _, s := range out {
				unix.Close(s.FD)
			}
			return nil, fmt.Errorf("socket activation: fd %d (%s): %w", 3+i, f.Name(), err)
		}
		out = append(out, Socket{FD: fd, Name: f.Name(), Index: i})
	}
	return out, nil
}

// Find returns the socket a "systemd:NAME" listener address names: by
// FileDescriptorName, or by index when ref is a number and no socket has
// that name.
func Find(socks []Socket, ref string) (Socket, bool) {
	for _, s := range socks {
		if s.Name == ref {
			return s, true
		}
	}
	if i, err := strconv.Atoi(ref); err == nil {
		for _, s := range socks {
			if s.Index == i {
				return s, true
			}
		}
	}
	return Socket{}, false
}
