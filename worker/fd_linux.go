package worker

import "golang.org/x/sys/unix"

// unixFcntlGetfd checks that fd is open.
func unixFcntlGetfd(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
}
