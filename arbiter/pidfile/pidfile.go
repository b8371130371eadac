// Package pidfile writes and removes the master's pidfile.
//
// Write refuses to start when the file names a live process (EPERM counts as
// alive, as in gunicorn), writes atomically (a temporary file in the same
// directory, then rename), and Remove deletes the file only if it still holds
// our pid, so a master never removes the pidfile of the one that replaced it.
package pidfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/signals"
)

// ErrRunning is returned by Write when the pidfile names a live process.
var ErrRunning = errors.New("another master is running")

// Read returns the pid in path.
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read pidfile %s: no pid in it", path)
	}
	return pid, nil
}

// Write records pid in path. A stale file (its process is gone, or it holds
// no pid) is replaced; a live pid other than ours is ErrRunning.
func Write(path string, pid int) error {
	if old, err := Read(path); err == nil && old != pid && signals.Alive(old) {
		return fmt.Errorf("pidfile %s: %w (pid %d)", path, ErrRunning, old)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := fmt.Fprintf(tmp, "%d\n", pid); err != nil {
		tmp.Close()
		return fmt.Errorf("write pidfile: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write pidfile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	return nil
}

// Remove deletes path if it holds pid; otherwise it leaves it alone.
func Remove(path string, pid int) error {
	cur, err := Read(path)
	if err != nil || cur != pid {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pidfile: %w", err)
	}
	return nil
}
