package listeners

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

// Inherit wraps a listening socket fd this process was given (by the master
// it is taking over from) as a Listener for spec. The fd is duplicated
// close-on-exec and the original closed, so nothing started later inherits
// it by accident. A unix socket's file becomes this process's to unlink.
func Inherit(fd int, spec config.Listen) (*Listener, error) {
	if err := checkListening(fd); err != nil {
		return nil, fmt.Errorf("inherit %s (fd %d): %w", spec.Address, fd, err)
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("inherit %s (fd %d): dup: %w", spec.Address, fd, err)
	}
	unix.Close(fd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("inherit %s: %w", spec.Address, err)
	}
	l := &Listener{Spec: spec, FD: nfd, Addr: localAddr(nfd, spec.Address)}
	if path, ok := strings.CutPrefix(spec.Address, "unix:"); ok {
		var st unix.Stat_t
		if unix.Lstat(path, &st) == nil {
			l.unlink, l.ino = path, st.Ino
		}
	}
	return l, nil
}

// Adopt returns the listeners for specs, in their order: one of have with
// the same address is kept open (its protocol, name and mode follow the new
// spec), any other address is bound. have is not modified and nothing in it
// is closed; Unused tells the caller which of have the result leaves out.
// On error the listeners Adopt bound are closed again.
func Adopt(specs []config.Listen, backlog int, have []*Listener) ([]*Listener, error) {
	var out, bound []*Listener
	for _, s := range specs {
		if l := find(have, s.Address); l != nil {
			if s.Mode != 0 && s.Mode != l.Spec.Mode && l.unlink != "" {
				if err := os.Chmod(l.unlink, os.FileMode(s.Mode)); err != nil {
					CloseAll(bound)
					return nil, fmt.Errorf("listen %s: %w", s.Address, err)
				}
			}
			l.Spec = s
			out = append(out, l)
			continue
		}
		l, err := open(s, backlog)
		if err != nil {
			CloseAll(bound)
			return nil, err
		}
		bound = append(bound, l)
		out = append(out, l)
	}
	return out, nil
}

// Unused returns the listeners of have that are not in keep.
func Unused(have, keep []*Listener) []*Listener {
	var out []*Listener
	for _, l := range have {
		found := false
		for _, k := range keep {
			if k == l {
				found = true
				break
			}
		}
		if !found {
			out = append(out, l)
		}
	}
	return out
}

func find(have []*Listener, address string) *Listener {
	for _, l := range have {
		if l.Spec.Address == address && l.FD >= 0 {
			return l
		}
	}
	return nil
}

// Release closes the socket without removing its unix socket file: the
// process it was handed to (a new master) keeps serving on it.
func (l *Listener) Release() error {
	l.unlink = ""
	return l.Close()
}

// ReleaseAll releases every listener.
func ReleaseAll(ls []*Listener) {
	for _, l := range ls {
		l.Release()
	}
}
