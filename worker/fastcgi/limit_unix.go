//go:build unix

package fastcgi

import (
	"math"
	"syscall"
)

// openFileLimit is the process's soft RLIMIT_NOFILE, the real bound on its
// connections when MaxConns is unlimited.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(rl.Cur)
}
