// Package fds handles the file descriptors a process inherited.
package fds

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// CloseOnExecAll marks every open file descriptor above 2 close-on-exec, so
// that nothing the process starts inherits one the process got from its
// parent without the flag (a shell's, a CI runner's). The Go runtime opens
// everything close-on-exec already; this is for descriptors inherited at
// start. It uses close_range(2) where the kernel has it (Linux 5.11), else
// a walk of /proc/self/fd.
func CloseOnExecAll() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open file descriptors: %w", err)
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}
