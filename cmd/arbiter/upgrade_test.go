package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// installBinary copies src to dst atomically (write a temporary file, then
// rename over dst), the way a deploy replaces a running binary.
// startVersion1 installs version "1" of the hello binary as f.dir/app and
// runs it with upgradeConfig until its first generation is ready. USR2
// re-executes that path, so a test upgrades by installing over it.
func startVersion1(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t, upgradeConfig)
	bin := filepath.Join(f.dir, "app")
	installBinary(t, helloBuild(t, "1"), bin)
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg})
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	return f, bin
}

func installBinary(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func helloBuild(t *testing.T, version string) string {
	return proctest.Build(t, "./examples/hello", "-ldflags", "-X main.version="+version)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

const upgradeConfig = `
workers = 2
graceful_timeout = "5s"
upgrade_timeout = "20s"
pidfile = "{{dir}}/app.pid"
[[listen]]
address = "{{addr}}"
`

// USR2 replaces the master and its workers with a new binary while
// keep-alive clients run: no request fails, the replies switch to the new
// version, the old master exits and the pidfile names the new one.
func TestUSR2UpgradesToNewBinaryUnderLoad(t *testing.T) {
	f, bin := startVersion1(t)
	oldMaster := f.srv.PID
	l := startLoad(t, f.addr, 6)
	l.waitOK(t, 300)

	installBinary(t, helloBuild(t, "2"), bin)
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGUSR2)
	e, _ := f.srv.WaitMsg(mark, 30*time.Second, "promoted: the old master is gone; this master is in charge")
	newMaster := e.Int("pid")
	if newMaster == oldMaster || newMaster <= 0 {
		t.Fatalf("promoted master pid %d (old %d)", newMaster, oldMaster)
	}
	served := l.ok.Load()
	l.waitOK(t, served+300)
	l.check(t)
	if l.versions["2"] == 0 || l.versions["1"] == 0 {
		t.Fatalf("replies by version %v: want both", l.versions)
	}
	if proctest.Alive(oldMaster) {
		t.Fatal("old master still alive after the hand-off")
	}
	if got := readPid(t, filepath.Join(f.dir, "app.pid")); got != newMaster {
		t.Fatalf("pidfile holds %d, want the new master %d", got, newMaster)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "app.pid.2")); !os.IsNotExist(err) {
		t.Fatal("app.pid.2 left behind")
	}
	resp, err := client.Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("X-Hello-Version"); v != "2" {
		t.Fatalf("after the upgrade: version %q", v)
	}
	// The new master is a normal master: TERM stops it and its workers.
	if err := syscall.Kill(newMaster, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 15*time.Second, "the new master to exit", func() bool { return !proctest.Alive(newMaster) })
}

// A new binary that dies at boot leaves the old master serving, with its
// pidfile, and the failure in the log.
func TestUSR2RollsBackWhenNewBinaryFails(t *testing.T) {
	f, bin := startVersion1(t)
	workers := f.waitWorkers(2, 10*time.Second)

	broken := filepath.Join(f.dir, "broken")
	os.WriteFile(broken, []byte("#!/bin/sh\necho 'new binary: cannot start' >&2\nexit 3\n"), 0o755)
	installBinary(t, broken, bin)
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGUSR2)
	f.srv.WaitEvent(mark, 20*time.Second, "the upgrade failure", func(e proctest.Event) bool {
		return strings.HasPrefix(e.Msg(), "upgrade failed: the new master exited") && e.Str("exit") == "exit code 3"
	})
	if now := f.workers(); len(now) != 2 || !contains(now, workers[0]) || !contains(now, workers[1]) {
		t.Fatalf("workers changed: %v -> %v", workers, now)
	}
	if got := readPid(t, filepath.Join(f.dir, "app.pid")); got != f.srv.PID {
		t.Fatalf("pidfile holds %d", got)
	}
	resp, err := client.Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Hello-Version") != "1" {
		t.Fatal("not served by the old binary")
	}
}

// A second USR2 while the first hand-off runs is refused; HUP is refused
// too, until the new master has taken over.
func TestUSR2DuringUpgradeIsRefused(t *testing.T) {
	f, bin := startVersion1(t)
	real := filepath.Join(f.dir, "app-v2")

	// The new "binary" takes two seconds before it becomes the new master.
	installBinary(t, helloBuild(t, "2"), real)
	slow := filepath.Join(f.dir, "slow")
	os.WriteFile(slow, []byte("#!/bin/sh\nsleep 2\nexec "+real+" \"$@\"\n"), 0o755)
	installBinary(t, slow, bin)
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGUSR2)
	f.srv.WaitMsg(mark, 10*time.Second, "upgrade: new master started; serving until it is ready")
	f.srv.Signal(syscall.SIGUSR2)
	f.srv.WaitMsg(mark, 10*time.Second, "USR2 refused: an upgrade is already in progress")
	f.srv.Signal(syscall.SIGHUP)
	f.srv.WaitMsg(mark, 10*time.Second, "HUP refused: an upgrade is in progress; HUP the new master once it has taken over")
	f.srv.WaitMsg(mark, 30*time.Second, "promoted: the old master is gone; this master is in charge")
}
