package benchkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Server is a process a benchmark started, leading a process group of its
// own.
type Server struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the leader has been reaped
}

// StartServer runs bin with args as the leader of a new process group,
// with stdout and stderr in logPath and env as its environment (nil: this
// process's), and waits up to 30 s until every address in ready accepts
// connections ("host:port", or "unix:" and a socket path). A server that
// exits first, or is not accepting in time, is stopped and the error
// quotes its log.
func StartServer(name, bin string, args, env []string, logPath string, ready ...string) (*Server, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &Server{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	for _, addr := range ready {
		if err := WaitAccepting(addr, 30*time.Second, s.done); err != nil {
			s.Stop(syscall.SIGTERM, true, 10*time.Second)
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s: %w\n%s", name, err, log)
		}
	}
	return s, nil
}

// Pid is the leader's pid, which is also the group's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop sends sig to the leader (arbiter's master passes SIGTERM on to its
// workers) or, with group, to the whole group (fcgiwrap's processes do
// not), waits up to grace for the leader to exit, then kills what is left
// of the group and reaps the leader.
func (s *Server) Stop(sig syscall.Signal, group bool, grace time.Duration) {
	pid := s.cmd.Process.Pid
	target := pid
	if group {
		target = -pid
	}
	_ = syscall.Kill(target, sig)
	select {
	case <-s.done:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-s.done
}

// WaitAccepting waits up to timeout until addr ("host:port", or "unix:"
// and a socket path) accepts a connection. It gives up at once when
// exited (nil: never) is closed: the server is gone.
func WaitAccepting(addr string, timeout time.Duration, exited <-chan struct{}) error {
	network := "tcp"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before accepting on %s", addr)
		default:
		}
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
