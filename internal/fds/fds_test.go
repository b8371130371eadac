package fds

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// TestCloseOnExecAll: a descriptor without the flag reaches a child until
// CloseOnExecAll marks it.
func TestCloseOnExecAll(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Dup's copy has no close-on-exec flag, like a descriptor inherited
	// from a shell.
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	inherited := func() bool {
		return exec.Command("sh", "-c", "test -e /proc/self/fd/"+strconv.Itoa(fd)).Run() == nil
	}
	if !inherited() {
		t.Fatal("a descriptor without the flag did not reach the child: the test proves nothing")
	}
	if err := CloseOnExecAll(); err != nil {
		t.Fatal(err)
	}
	if inherited() {
		t.Error("the child still got the descriptor")
	}
}
