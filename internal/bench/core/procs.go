package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// procSet tracks every process the benchmark starts. Each runs as the
// leader of its own process group, so that signalling the group reaches the
// children it starts (arbiter's workers) too, and a terminal's Ctrl-C
// reaches only the benchmark, which then ends them all with killAll.
type procSet struct {
	mu   sync.Mutex
	live map[int]*proc // by pid, which is also the process group id
}

// proc is one started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the leader has exited and been waited for
	err  error         // Wait's result, valid after done
}

func newProcSet() *procSet { return &procSet{live: map[int]*proc{}} }

// start starts cmd in a new process group. If the benchmark itself is
// killed (SIGKILL, so no cleanup runs), the kernel sends the process
// SIGKILL too (Pdeathsig); arbiter's workers then see their master's pipe
// close and exit on their own.
func (s *procSet) start(name string, cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.live[cmd.Process.Pid] = p
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends sig to the leader and waits up to grace for it to exit; then
// (or at once, if ctx ends first) it kills the whole group with SIGKILL, so
// that nothing of the group survives, whatever the leader did. It reports
// whether the leader exited within grace.
func (s *procSet) stop(ctx context.Context, p *proc, sig syscall.Signal, grace time.Duration) bool {
	_ = syscall.Kill(p.pid(), sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	clean := false
	select {
	case <-p.done:
		clean = true
	case <-t.C:
	case <-ctx.Done():
	}
	s.kill(p)
	return clean
}

// kill sends SIGKILL to p's process group and waits for the leader.
func (s *procSet) kill(p *proc) {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
	s.mu.Lock()
	delete(s.live, p.pid())
	s.mu.Unlock()
}

// killAll kills every group still tracked. The benchmark defers it, so it
// runs on every way out of run: success, error or interruption.
func (s *procSet) killAll() {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.live))
	for _, p := range s.live {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		s.kill(p)
	}
}

// output runs cmd in its own group to completion and returns its stdout.
// When ctx ends first, the group is killed and ctx's error returned. A
// non-zero exit is an error that carries stderr.
func (s *procSet) output(ctx context.Context, name string, cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	p, err := s.start(name, cmd)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		s.kill(p)
		return nil, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	s.kill(p) // nothing left but the bookkeeping
	if p.err != nil {
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return stdout.Bytes(), fmt.Errorf("%s: %w: %s", name, p.err, stderr.String())
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", name, p.err)
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps the first 1 MiB written to it and drops the rest, so
// that a chatty process cannot make the benchmark grow without bound.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const outputLimit = 1 << 20

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := outputLimit - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}

func (b *limitedBuffer) String() string { return string(b.Bytes()) }
