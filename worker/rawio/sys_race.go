//go:build race

package rawio

import (
	"errors"
	"syscall"
)

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if err != nil && !errors.As(err, &e) {
		return syscall.EIO
	}
	return e
}

func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysRecvmsg(fd uintptr, p, oob []byte) (n, oobn int, errno syscall.Errno) {
	n, oobn, _, _, err := syscall.Recvmsg(int(fd), p, oob, syscall.MSG_CMSG_CLOEXEC)
	return max(n, 0), max(oobn, 0), errnoOf(err)
}
