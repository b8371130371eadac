package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// ctl runs the arbiter binary as a control client and returns its stdout,
// stderr and exit code. cred, when set, runs it as another user.
func ctl(t *testing.T, bin string, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	if bin == "" {
		bin = proctest.Build(t, "./cmd/arbiter")
	}
	cmd := exec.Command(bin, append([]string{args[0], "--timeout", "60s"}, args[1:]...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// ctlOK runs a control command that must succeed and returns its stdout.
func ctlOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := ctl(t, "", nil, args...)
	if code != 0 {
		t.Fatalf("arbiter %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// ctlFails runs a control command that must fail with exit code 8 and
// returns its stderr, which must contain want.
func ctlFails(t *testing.T, want string, args ...string) string {
	t.Helper()
	out, errs, code := ctl(t, "", nil, args...)
	if code != 8 || !strings.Contains(errs, want) {
		t.Fatalf("arbiter %s: exit %d (want 8), stderr %q (want %q), stdout %q", strings.Join(args, " "), code, errs, want, out)
	}
	return errs
}

func statusJSON(t *testing.T, args ...string) master.Snapshot {
	t.Helper()
	var s master.Snapshot
	out := ctlOK(t, append([]string{"status", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v: %s", err, out)
	}
	return s
}

const controlConfig = `
workers = 2
graceful_timeout = "5s"
pidfile = "{{dir}}/app.pid"
[[listen]]
address = "{{addr}}"
[[listen]]
address = "unix:{{dir}}/app.sock"
`

// arbiter status finds the master from its config (the socket next to the
// pidfile, mode 0600) and shows its workers and listeners, as a table and
// as JSON.
func TestControlStatus(t *testing.T) {
	f := start(t, controlConfig)
	sock := filepath.Join(f.dir, "app.ctl")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v %v", sock, fi.Mode(), err)
	}
	for range 5 {
		f.get("/")
	}
	out := ctlOK(t, "status", "-c", f.cfg)
	for _, want := range []string{fmt.Sprintf("master %d, running", f.srv.PID), "generation 1, 2 workers", "last reload: none",
		"LISTENER", f.addr, filepath.Join(f.dir, "app.sock") + "  http", "n/a", "WORKER  PID", "ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, " ready "); n != 2 {
		t.Errorf("%d ready workers in the table, want 2:\n%s", n, out)
	}
	// The request counts come with the heartbeats.
	var s master.Snapshot
	proctest.Eventually(t, 10*time.Second, "5 requests in status --json", func() bool {
		s = statusJSON(t, "--socket", sock)
		return s.RequestsTotal == 5
	})
	if s.PID != f.srv.PID || len(s.Workers) != 2 || len(s.Listeners) != 2 || s.ControlSocket != sock || s.UptimeSeconds <= 0 {
		t.Fatalf("status --json: %+v", s)
	}
	tcp, unixL := s.Listeners[0], s.Listeners[1]
	if tcp.AcceptQueue == nil || *tcp.AcceptQueue != 0 || tcp.Backlog == nil || *tcp.Backlog <= 0 {
		t.Errorf("TCP listener's queue: %+v", tcp)
	}
	if unixL.AcceptQueue != nil || unixL.Backlog != nil {
		t.Errorf("unix listener has a queue: %+v", unixL)
	}
	for _, w := range s.Workers {
		if w.State != "ready" || w.PID <= 0 || w.RSS <= 0 || w.LastHeartbeatSeconds > 5 {
			t.Errorf("worker %+v", w)
		}
	}
}

// arbiter reload waits for the new generation; a refused config makes it
// exit 8 with the problem, and status shows the refusal.
func TestControlReload(t *testing.T) {
	f := start(t, controlConfig)
	out := ctlOK(t, "reload", "-c", f.cfg)
	if !strings.Contains(out, "generation 2 ready with 2 workers") {
		t.Fatalf("reload: %q", out)
	}
	if s := statusJSON(t, "-c", f.cfg); s.Generation != 2 || s.LastReload == nil || s.LastReload.Outcome != "ready" {
		t.Fatalf("after the reload: %+v", s.LastReload)
	}
	sock := filepath.Join(f.dir, "app.ctl")
	f.write(controlConfig + "workers = 0\n")
	errs := ctlFails(t, "reload refused", "reload", "-c", f.cfg) // the client finds the socket in a file the master refuses
	if !strings.Contains(errs, "app.toml:") {
		t.Errorf("the refusal does not name the file: %q", errs)
	}
	s := statusJSON(t, "--socket", sock)
	if s.Generation != 2 || s.LastReload.Outcome != "refused" || !strings.Contains(s.LastReload.Error, "app.toml") {
		t.Fatalf("after a refused reload: generation %d, %+v", s.Generation, s.LastReload)
	}
}

// arbiter scale moves a fixed fleet between 1 and 1024 and waits for the
// workers; past a bound it changes nothing.
func TestControlScale(t *testing.T) {
	f := start(t, controlConfig)
	if out := ctlOK(t, "scale", "-c", f.cfg, "+1"); !strings.Contains(out, "3 workers ready") {
		t.Fatalf("scale +1: %q", out)
	}
	f.waitWorkers(3, 15*time.Second)
	if out := ctlOK(t, "scale", "-c", f.cfg, "-2"); !strings.Contains(out, "1 worker ready") {
		t.Fatalf("scale -2: %q", out)
	}
	f.waitWorkers(1, 15*time.Second)
	ctlOK(t, "scale", "-c", f.cfg, "2")
	ctlFails(t, "0 workers is below the minimum 1", "scale", "-c", f.cfg, "-2")
	ctlFails(t, "1025 workers is above the maximum 1024", "scale", "-c", f.cfg, "1025")
	if s := statusJSON(t, "-c", f.cfg); s.Desired != 2 {
		t.Fatalf("after refused scalings: %d workers wanted", s.Desired)
	}
	_, errs, code := ctl(t, "", nil, "scale", "-c", f.cfg, "many")
	if code != 8 || !strings.Contains(errs, `want N, +N or -N workers, got "many"`) {
		t.Fatalf("scale many: %d %q", code, errs)
	}
}

// arbiter stop waits until the master has exited; --fast too.
func TestControlStop(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			f := start(t, controlConfig)
			args := []string{"stop", "-c", f.cfg}
			if fast {
				args = append(args, "--fast")
			}
			out := ctlOK(t, args...)
			if !strings.Contains(out, fmt.Sprintf("master %d stopped", f.srv.PID)) {
				t.Fatalf("stop: %q", out)
			}
			if code := f.srv.Wait(15 * time.Second); code != 0 {
				t.Fatalf("master exit %d", code)
			}
			if _, err := os.Stat(filepath.Join(f.dir, "app.ctl")); !os.IsNotExist(err) {
				t.Fatalf("control socket left behind: %v", err)
			}
			e, _ := f.srv.WaitMsg(0, time.Second, "control command")
			if e.Str("command") != "stop" || (e["fast"] == true) != fast {
				t.Fatalf("control command logged as %v", e)
			}
			_, errs, code := ctl(t, "", nil, "status", "-c", f.cfg)
			if code != 9 || !strings.Contains(errs, "cannot reach the master") {
				t.Fatalf("status after the stop: exit %d %q", code, errs)
			}
		})
	}
}

// A peer that is neither root nor the master's user is refused: by the
// socket's mode first, and by SO_PEERCRED when the mode lets it connect.
func TestControlRefusesOtherUsers(t *testing.T) {
	needRoot(t)
	dir := publicDir(t)
	bin := filepath.Join(dir, "arbiter")
	installBinary(t, proctest.Build(t, "./cmd/arbiter"), bin)
	f := start(t, `
workers = 1
control_socket = "`+dir+`/ctl.sock"
[[listen]]
address = "{{addr}}"
`)
	sock := filepath.Join(dir, "ctl.sock")
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	_, errs, code := ctl(t, bin, nobody, "status", "--socket", sock)
	if code != 9 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("nobody on a 0600 socket: exit %d %q", code, errs)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	mark := f.srv.Count()
	_, errs, code = ctl(t, bin, nobody, "stop", "--socket", sock)
	if code != 8 || !strings.Contains(errs, "permission denied: uid 65534 is neither root nor the master's user") {
		t.Fatalf("nobody on a 0666 socket: exit %d %q", code, errs)
	}
	e, _ := f.srv.WaitMsg(mark, 10*time.Second, "control connection refused: the peer is neither root nor the master's user")
	if e.Int("peer_uid") != 65534 || e.Int("peer_pid") <= 0 {
		t.Fatalf("refusal logged as %v", e)
	}
	if !proctest.Alive(f.srv.PID) {
		t.Fatal("the refused stop stopped the master")
	}
	ctlOK(t, "status", "--socket", sock)
}
