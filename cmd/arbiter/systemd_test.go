package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// needTool skips (or, under CI, fails) when a system tool is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// A [[listen]] entry names a socket passed by systemd's socket activation;
// Debian's systemd-socket-activate plays systemd.
func TestSocketActivation(t *testing.T) {
	activate := needTool(t, "systemd-socket-activate")
	bin := proctest.Build(t, "./cmd/arbiter")
	f := newFixture(t, "workers = 2\n[[listen]]\naddress = \"systemd:web\"\n")
	f.srv = proctest.Start(t, activate, []string{"-l", f.addr, "--fdname=web", bin, "run", f.cfg})
	waitActivatorListening(t, f.srv, 1)
	// systemd-socket-activate starts arbiter on the first connection; that
	// connection waits in the backlog until a worker accepts it.
	r := f.get("/activated")
	if r.Path != "/activated" {
		t.Fatalf("reply %+v", r)
	}
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	// A reload keeps the activated socket: the same inode serves generation 2.
	ino := listenInode(t, f.addr)
	f.srv.Signal(syscall.SIGHUP)
	_, ready := f.srv.WaitEvent(0, 30*time.Second, "generation 2 ready", func(e proctest.Event) bool {
		return e.Msg() == "generation ready" && e.Int("generation") == 2
	})
	// The old workers accept until they read their stop message: wait for
	// both to exit, so that the next connection can only reach generation 2.
	from := ready
	for range 2 {
		_, from = f.srv.WaitEvent(from, 30*time.Second, "a generation 1 worker's exit", func(e proctest.Event) bool {
			return e.Msg() == "worker exited" && e.Int("generation") == 1
		})
		from++
	}
	if got := listenInode(t, f.addr); got != ino {
		t.Fatalf("the activated socket changed across HUP: %s -> %s", ino, got)
	}
	client.CloseIdleConnections() // a kept connection may still end at a draining old worker
	if r := f.get("/after-hup"); r.Generation != 2 {
		t.Fatalf("generation %d", r.Generation)
	}
	f.srv.Signal(syscall.SIGTERM)
	if code := f.srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// Sockets systemd passes must all be used: an unnamed one is an error
// (exit 6) that says which.
func TestUnusedActivatedSocketIsAnError(t *testing.T) {
	activate := needTool(t, "systemd-socket-activate")
	bin := proctest.Build(t, "./cmd/arbiter")
	f := newFixture(t, "workers = 1\n[[listen]]\naddress = \"systemd:web\"\n")
	other := proctest.FreeAddr(t)
	f.srv = proctest.Start(t, activate, []string{"-l", f.addr, "-l", other, "--fdname=web:admin", bin, "run", f.cfg})
	waitActivatorListening(t, f.srv, 2)
	if c, err := net.Dial("tcp", f.addr); err == nil {
		c.Close()
	}
	if code := f.srv.Wait(20 * time.Second); code != 6 {
		t.Fatalf("exit %d, want 6", code)
	}
	if log := strings.Join(f.srv.Lines(), "\n"); !strings.Contains(log, `systemd passed sockets the config does not use`) || !strings.Contains(log, `systemd:admin`) {
		t.Fatalf("log lacks the reason:\n%s", strings.Join(f.srv.Lines(), "\n"))
	}
}

// waitActivatorListening waits for systemd-socket-activate's "Listening on"
// lines: only then does a connection start the program.
func waitActivatorListening(t *testing.T, s *proctest.Server, n int) {
	t.Helper()
	proctest.Eventually(t, 10*time.Second, "systemd-socket-activate to listen", func() bool {
		return strings.Count(strings.Join(s.Lines(), "\n"), "Listening on") >= n
	})
}

// notifyRecorder is a NOTIFY_SOCKET that records each message with the pid
// of its sender (SO_PASSCRED).
type notifyRecorder struct {
	path string
	mu   sync.Mutex
	msgs []notifyMsg
}

type notifyMsg struct {
	pid  int
	text string
}

func newNotifyRecorder(t *testing.T) *notifyRecorder {
	t.Helper()
	r := &notifyRecorder{path: filepath.Join(t.TempDir(), "notify.sock")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	t.Cleanup(func() { c.Close() })
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 256)
		for {
			n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			m := notifyMsg{text: string(buf[:n])}
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, scm := range scms {
					if cred, err := unix.ParseUnixCredentials(&scm); err == nil {
						m.pid = int(cred.Pid)
					}
				}
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.mu.Unlock()
		}
	}()
	return r
}

// wait returns the first message at index from or later containing substr.
func (r *notifyRecorder) wait(t *testing.T, from int, substr string) (notifyMsg, int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i := from; i < len(r.msgs); i++ {
			if strings.Contains(r.msgs[i].text, substr) {
				m := r.msgs[i]
				r.mu.Unlock()
				return m, i
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no notification %q after #%d; got %+v", substr, from, r.msgs)
	return notifyMsg{}, 0
}

func (r *notifyRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m.text, substr) {
			n++
		}
	}
	return n
}

// The notifications a Type=notify-reload unit relies on, in order, from the
// right process, through start, HUP, USR2 and TERM; watchdog pings while
// healthy; and none of the systemd variables reach a worker.
func TestSdNotifySequence(t *testing.T) {
	rec := newNotifyRecorder(t)
	f := newFixture(t, "workers = 2\ngraceful_timeout = \"5s\"\npidfile = \"{{dir}}/a.pid\"\n[[listen]]\naddress = \"{{addr}}\"\n")
	bin := filepath.Join(f.dir, "arbiter")
	installBinary(t, proctest.Build(t, "./cmd/arbiter"), bin)
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg}, "NOTIFY_SOCKET="+rec.path, "WATCHDOG_USEC=400000")
	master := f.srv.PID

	ready, i := rec.wait(t, 0, "READY=1")
	if ready.pid != master || !strings.Contains(ready.text, "STATUS=generation 1: 2/2 workers ready") {
		t.Fatalf("first READY %+v (master %d)", ready, master)
	}
	// READY comes only once the workers are ready: both exist by now.
	if n := len(f.workers()); n != 2 {
		t.Fatalf("READY=1 with %d workers", n)
	}
	for _, pid := range f.workers() {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS="} {
			if bytes.Contains(env, []byte(v)) {
				t.Errorf("worker %d inherited %s", pid, v)
			}
		}
	}

	f.srv.Signal(syscall.SIGHUP)
	reloading, i := rec.wait(t, i+1, "RELOADING=1")
	if reloading.pid != master || !strings.Contains(reloading.text, "MONOTONIC_USEC=") {
		t.Fatalf("RELOADING %+v", reloading)
	}
	if r, _ := rec.wait(t, i+1, "READY=1"); !strings.Contains(r.text, "generation 2") {
		t.Fatalf("READY after the reload: %+v", r)
	}

	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGUSR2)
	e, _ := f.srv.WaitMsg(mark, 30*time.Second, "promoted: the old master is gone; this master is in charge")
	newMaster := e.Int("pid")
	mainpid, j := rec.wait(t, i+1, "MAINPID=")
	if mainpid.pid != master || mainpid.text != "MAINPID="+strconv.Itoa(newMaster) {
		t.Fatalf("MAINPID %+v; old master %d, new %d", mainpid, master, newMaster)
	}
	if r, _ := rec.wait(t, j+1, "STATUS=promoted"); r.pid != newMaster || !strings.Contains(r.text, "READY=1") {
		t.Fatalf("the new master's READY: %+v", r)
	}
	if got := readPid(t, filepath.Join(f.dir, "a.pid")); got != newMaster {
		t.Fatalf("pidfile %d, want %d", got, newMaster)
	}

	syscall.Kill(newMaster, syscall.SIGTERM)
	if s, _ := rec.wait(t, j+1, "STOPPING=1"); s.pid != newMaster {
		t.Fatalf("STOPPING from %d, want %d", s.pid, newMaster)
	}
	if n := rec.count("WATCHDOG=1"); n < 2 {
		t.Fatalf("%d watchdog pings", n)
	}
	proctest.Eventually(t, 15*time.Second, "the new master to exit", func() bool { return !proctest.Alive(newMaster) })
}

// As root, workers run as the configured user, and the unix socket the
// master creates belongs to it; the master stays root.
func TestWorkersRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test must run as root under CI")
		}
		t.Skip("needs root")
	}
	f := start(t, `
workers = 2
user = "nobody"
umask = "0027"
[[listen]]
address = "{{addr}}"
[[listen]]
address = "unix:{{dir}}/u.sock"
`)
	os.Chmod(f.dir, 0o755)
	for _, pid := range f.waitWorkers(2, 10*time.Second) {
		if uid := procUID(t, pid); uid != 65534 {
			t.Errorf("worker %d runs as uid %d", pid, uid)
		}
	}
	if uid := procUID(t, f.srv.PID); uid != 0 {
		t.Errorf("master runs as uid %d", uid)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(f.dir, "u.sock"), &st); err != nil || st.Uid != 65534 {
		t.Errorf("unix socket owner %d (%v)", st.Uid, err)
	}
	if st.Mode&0o007 != 0 {
		t.Errorf("umask 0027 not applied to the socket: mode %o", st.Mode&0o777)
	}
	f.get("/")
}

func procUID(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[1]) // effective uid
			return n
		}
	}
	return -1
}

// FastCGI on a socket-activated listener, behind real nginx.
func TestSocketActivationFastCGIBehindNginx(t *testing.T) {
	activate := needTool(t, "systemd-socket-activate")
	bin := proctest.Build(t, "./cmd/arbiter")
	f := newFixture(t, "workers = 2\n[[listen]]\naddress = \"systemd:fcgi\"\nprotocol = \"fastcgi\"\n")
	ng := nginxtest.Start(t, nginxtest.Config{Server: `
location / {
    include /etc/nginx/fastcgi_params;
    fastcgi_pass ` + f.addr + `;
}`})
	f.srv = proctest.Start(t, activate, []string{"-l", f.addr, "--fdname=fcgi", bin, "run", f.cfg})
	waitActivatorListening(t, f.srv, 1)
	mark := ng.Mark()
	for i := range 20 {
		resp, err := client.Get(ng.URL(fmt.Sprintf("/via-nginx/%d?x=1", i)))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Path, Query, Protocol string
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || r.Protocol != "fastcgi" || r.Path != fmt.Sprintf("/via-nginx/%d", i) || r.Query != "x=1" {
			t.Fatalf("request %d: %d %+v %v", i, resp.StatusCode, r, err)
		}
	}
	ng.CheckErrors(t, mark)
	f.srv.WaitMsg(0, 10*time.Second, "generation ready")
	f.srv.Signal(syscall.SIGTERM)
	if code := f.srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
