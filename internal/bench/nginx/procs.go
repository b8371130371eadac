package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// proc is a server the benchmark started, in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc runs bin with args in a new process group, its output in
// logPath, and waits until every address in ready accepts connections.
func startProc(name, bin string, args []string, logPath string, ready ...string) (*proc, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	for _, addr := range ready {
		if err := p.waitAccepting(addr, 30*time.Second); err != nil {
			p.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%w\n%s", err, log)
		}
	}
	return p, nil
}

func (p *proc) waitAccepting(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start-up", p.name)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting on %s after %v", p.name, addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM, and kills the process group after 15 s.
func (p *proc) stop() {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
