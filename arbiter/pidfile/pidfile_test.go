package pidfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestRules(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arbiter.pid")
	me := os.Getpid()

	if err := Write(path, me); err != nil {
		t.Fatal(err)
	}
	if pid, err := Read(path); err != nil || pid != me {
		t.Fatalf("Read = %d, %v", pid, err)
	}
	// A live pid that is not ours refuses the start.
	other := startSleeper(t)
	if err := Write(path, other); !errors.Is(err, ErrRunning) {
		t.Fatalf("Write over a live pid: %v", err)
	}
	// Remove with someone else's pid leaves the file.
	if err := Remove(path, other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("removed a pidfile that was not ours")
	}
	if err := Remove(path, me); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("our pidfile was not removed")
	}
	// Stale files (dead pid, garbage) are replaced.
	os.WriteFile(path, []byte("999999999\n"), 0o644)
	if err := Write(path, me); err != nil {
		t.Fatalf("stale pid: %v", err)
	}
	os.WriteFile(path, []byte("garbage"), 0o644)
	if err := Write(path, me); err != nil {
		t.Fatalf("garbage pidfile: %v", err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func startSleeper(t *testing.T) int {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}
