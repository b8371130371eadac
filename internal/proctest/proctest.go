// Package proctest runs real arbiter processes for end-to-end tests: it
// builds binaries (with -race), starts a master in its own process group,
// collects its JSON log, and inspects processes through /proc.
package proctest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/freeport"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// Build compiles the package at pkg (an import path or ./dir relative to the
// module root) with -race once per test process and returns the binary.
// extra are further `go build` arguments (for example -ldflags); each
// distinct combination is built once.
func Build(t testing.TB, pkg string, extra ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "\x00" + strings.Join(extra, "\x00")
	if bin, ok := built[key]; ok {
		return bin
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "arbiter-e2e-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	bin := filepath.Join(buildDir, fmt.Sprintf("bin%d-%s", len(built), filepath.Base(pkg)))
	args := append([]string{"build", "-race", "-o", bin}, extra...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[key] = bin
	return bin
}

// Cleanup removes the binaries Build made; call it from TestMain.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// FreeAddr returns a loopback TCP address that was free a moment ago and
// that no other FreeAddr of this test binary returned (freeport.Addr).
func FreeAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Event is one JSON log line.
type Event map[string]any

// Msg returns the message field.
func (e Event) Msg() string { s, _ := e["message"].(string); return s }

// Int returns a numeric field, or -1.
func (e Event) Int(k string) int {
	if f, ok := e[k].(float64); ok {
		return int(f)
	}
	return -1
}

// Str returns a string field.
func (e Event) Str(k string) string { s, _ := e[k].(string); return s }

// Server is a running master.
type Server struct {
	t    testing.TB
	Cmd  *exec.Cmd
	PID  int
	done chan struct{}
	code int

	mu     sync.Mutex
	events []Event
	raw    []string
	notify chan struct{}
}

// Start runs bin with args and env (added to the test's environment) as a
// new process group, and kills the group at cleanup if it is still there.
// A test binary that dies before its cleanups run (a -timeout panic, a
// kill) takes the process with it: it gets SIGKILL as its parent ends
// (Pdeathsig, which follows the thread that forked it; Go ends only
// threads a goroutine locked and never unlocked, which tests do not do),
// and an arbiter master's workers follow their master by their own.
func Start(t testing.TB, bin string, args []string, env ...string) *Server {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Cmd: cmd, PID: cmd.Process.Pid, done: make(chan struct{}), notify: make(chan struct{})}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			line := sc.Text()
			var e Event
			_ = json.Unmarshal([]byte(line), &e)
			s.mu.Lock()
			s.raw = append(s.raw, line)
			if e != nil {
				s.events = append(s.events, e)
			}
			close(s.notify)
			s.notify = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	go func() {
		<-logDone
		err := cmd.Wait()
		s.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			s.code = ee.ExitCode()
		} else if err != nil {
			s.code = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-s.PID, syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("master log:\n%s", strings.Join(s.Lines(), "\n"))
		}
	})
	return s
}

// Lines returns every line the master wrote to stderr so far.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.raw...)
}

// Events returns every JSON event so far.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// WaitEvent waits for an event at index from or later that match accepts,
// and returns it with its index. It fails the test on timeout.
func (s *Server) WaitEvent(from int, timeout time.Duration, what string, match func(Event) bool) (Event, int) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		for i := from; i < len(s.events); i++ {
			if match(s.events[i]) {
				e := s.events[i]
				s.mu.Unlock()
				return e, i
			}
		}
		from = len(s.events)
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.done:
			s.mu.Lock()
			n := len(s.events)
			s.mu.Unlock()
			if from >= n {
				s.t.Fatalf("master exited (code %d) while waiting for %s", s.code, what)
			}
		case <-deadline:
			s.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// WaitMsg waits for an event with this message.
func (s *Server) WaitMsg(from int, timeout time.Duration, msg string) (Event, int) {
	s.t.Helper()
	return s.WaitEvent(from, timeout, fmt.Sprintf("log message %q", msg), func(e Event) bool { return e.Msg() == msg })
}

// Count returns the number of events so far.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// Signal sends sig to the master.
func (s *Server) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := syscall.Kill(s.PID, sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the master to exit and returns its exit code.
func (s *Server) Wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		s.t.Fatalf("master did not exit within %v", timeout)
		return -1
	}
}

// Done is closed when the master has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// FDs returns the number of open fds of pid.
func FDs(pid int) int { return procfs.FDs(pid) }

// Children returns the pids whose parent is ppid and that are not zombies.
func Children(ppid int) []int { return procfs.Children(ppid) }

// Zombies returns the zombie children of ppid.
func Zombies(ppid int) []int { return procfs.Zombies(ppid) }

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool { return procfs.Alive(pid) }

// Eventually polls cond every 20 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
