package benchkit

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

func TestWaitAccepting(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	sock := filepath.Join(t.TempDir(), "s.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()
	for _, addr := range []string{tcp.Addr().String(), "unix:" + sock} {
		if err := WaitAccepting(addr, 5*time.Second, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := WaitAccepting("unix:"+sock+".none", 100*time.Millisecond, nil); err == nil {
		t.Error("a socket nobody listens on: no error")
	}
	exited := make(chan struct{})
	close(exited)
	if err := WaitAccepting("unix:"+sock+".none", time.Minute, exited); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("after the server exited: %v", err)
	}
}

func TestStartServer(t *testing.T) {
	dir := t.TempDir()
	// A server that dies at start-up: the error says so and quotes its log.
	_, err := StartServer("broken", "/bin/sh", []string{"-c", "echo boom; exit 3"}, nil,
		filepath.Join(dir, "broken.log"), "unix:"+filepath.Join(dir, "never.sock"))
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("broken server: %v", err)
	}

	// Stop ends the whole group, the leader's children too.
	s, err := StartServer("sleeper", "/bin/sh", []string{"-c", "sleep 60 & wait"}, nil, filepath.Join(dir, "sleeper.log"))
	if err != nil {
		t.Fatal(err)
	}
	pgid := s.Pid()
	var group []int
	for deadline := time.Now().Add(5 * time.Second); len(group) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		group = procfs.Group(pgid)
	}
	if len(group) < 2 {
		t.Fatalf("group %d: %v, want the shell and its sleep", pgid, group)
	}
	s.Stop(syscall.SIGTERM, true, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if len(procfs.Group(pgid)) == 0 { // Group leaves out zombies
			return
		}
	}
	t.Errorf("group %d still has %v after Stop", pgid, procfs.Group(pgid))
}
