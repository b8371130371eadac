// Package haproxytest runs a real haproxy as a test fixture: a generated
// configuration in a temporary directory, one TCP-mode frontend on a free
// 127.0.0.1 port passing every connection to one backend server, with or
// without a PROXY protocol header, and a stop that leaves no haproxy
// process behind. haproxy missing skips the test, unless the environment
// variable CI is non-empty, where it fails it (as internal/nginxtest).
package haproxytest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// EnvBinary names the environment variable that overrides where haproxy is.
const EnvBinary = "HAPROXY"

// Binary returns the haproxy executable: $HAPROXY if set, else haproxy on
// PATH, else /usr/sbin/haproxy (Debian's path).
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/haproxy"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("haproxy not found on PATH or at %s (Debian/Ubuntu: apt-get install haproxy)", debian)
	}
	return debian, nil
}

// Require returns the haproxy binary. When there is none it skips the
// test, or fails it when $CI is non-empty.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(nginxtest.EnvCI) != "" {
			t.Fatalf("haproxy is required when $%s is set: %v", nginxtest.EnvCI, err)
		}
		t.Skipf("interop test needs haproxy: %v", err)
	}
	return bin
}

// Haproxy is a running haproxy.
type Haproxy struct {
	Addr string // the frontend, 127.0.0.1:port
	Conf string
	cmd  *exec.Cmd
	done chan struct{}
	out  string // stdout and stderr
}

// Start runs haproxy in front of backend ("host:port") and stops it when
// the test ends. serverOpts go on the backend's server line: "send-proxy",
// "send-proxy-v2" or "" for none. It returns once the frontend accepts
// connections.
func Start(t testing.TB, backend, serverOpts string) *Haproxy {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	addr, err := nginxtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	h := &Haproxy{Addr: addr, Conf: filepath.Join(dir, "haproxy.cfg"), done: make(chan struct{}), out: filepath.Join(dir, "output.log")}
	conf := fmt.Sprintf(`global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind %s
    default_backend be

backend be
    server app %s %s
`, addr, backend, serverOpts)
	if err := os.WriteFile(h.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(h.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// -db: stay in the foreground, without a master process.
	h.cmd = exec.Command(bin, "-db", "-f", h.Conf)
	h.cmd.Stdout, h.cmd.Stderr = out, out
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	go func() {
		_ = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		if err := h.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(h.out)
			t.Logf("haproxy output:\n%s", b)
		}
	})
	if err := h.waitReady(10 * time.Second); err != nil {
		b, _ := os.ReadFile(h.out)
		t.Fatalf("%v\n%s", err, b)
	}
	return h
}

func (h *Haproxy) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-h.done:
			return fmt.Errorf("haproxy exited at start-up")
		default:
		}
		c, err := net.DialTimeout("tcp", h.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("haproxy not accepting on %s after %v: %w", h.Addr, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop sends SIGTERM (haproxy's hard stop), kills the process group after
// timeout, and reports any process of the group left behind. It is
// idempotent.
func (h *Haproxy) Stop(timeout time.Duration) error {
	pid := h.cmd.Process.Pid
	select {
	case <-h.done:
	default:
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(timeout):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-h.done
		}
	}
	if left := procfs.Group(pid); len(left) > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("haproxy left processes behind in group %d: %v (killed)", pid, left)
	}
	return nil
}
