package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// arbiterConfig is the config of the arbiter scenarios; the listener's
// protocol is one of the four, and the app section (empty: the echo app)
// follows. graceful_timeout is short so that a stuck drain shows within the
// run instead of after it.
const arbiterConfig = `# written by internal/bench/reload
workers = %d
pidfile = %q
graceful_timeout = "10s"
upgrade_timeout = "30s"

[log]
level = "info"
format = "json"

[[listen]]
address = %q
protocol = %q
%s`

// arbiterProc is a running arbiter: the first master is the benchmark's
// child; masters started by USR2 are the old master's children, then
// orphans. They are all in the first master's process group, and all
// write to one log pipe.
type arbiterProc struct {
	dir, pidfile string
	pgid         int
	first        *exec.Cmd
	firstDone    chan struct{}
	log          *logWatch
	masters      []int // every master seen, in order
}

// startArbiter writes the config into dir, with app as its app section
// ("" for the echo app), starts `bin run` and waits for the first
// generation to be ready and addr to accept connections.
func startArbiter(bin, dir string, workers int, addr, protocol, app string) (*arbiterProc, error) {
	cfgPath := filepath.Join(dir, "app.toml")
	a := &arbiterProc{dir: dir, pidfile: filepath.Join(dir, "arbiter.pid"), firstDone: make(chan struct{})}
	cfg := fmt.Sprintf(arbiterConfig, workers, a.pidfile, addr, protocol, app)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// The write end goes to the master as a file (no copying goroutine in
	// os/exec), so that a new master keeps writing to it after the first
	// one has exited, and Wait does not wait for the new master.
	a.first = exec.Command(bin, "run", cfgPath)
	a.first.Stdout, a.first.Stderr = w, w
	a.first.Dir = dir
	a.first.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = a.first.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start arbiter: %w", err)
	}
	a.pgid = a.first.Process.Pid
	a.masters = []int{a.pgid}
	go func() {
		_ = a.first.Wait()
		close(a.firstDone)
	}()
	if a.log, err = watchLog(r, filepath.Join(dir, "arbiter.log")); err != nil {
		a.stop()
		return nil, err
	}
	if _, ok := a.log.wait(0, 30*time.Second, msgIs("generation ready")); !ok {
		a.stop()
		return nil, fmt.Errorf("arbiter: no \"generation ready\" within 30 s; log:\n%s", tailLines(a.log.snapshot(), 20))
	}
	if err := benchkit.WaitAccepting(addr, 10*time.Second, nil); err != nil {
		a.stop()
		return nil, err
	}
	return a, nil
}

// master returns the pid in the pidfile: the master in charge.
func (a *arbiterProc) master() (int, error) {
	b, err := os.ReadFile(a.pidfile)
	if err != nil {
		return 0, fmt.Errorf("read the pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s holds %q", a.pidfile, b)
	}
	return pid, nil
}

func (a *arbiterProc) signal(kind string) (int, error) {
	pid, err := a.master()
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, signalOf[kind]); err != nil {
		return pid, fmt.Errorf("kill -%s %d: %w", kind, pid, err)
	}
	return pid, nil
}

// upgrade sends USR2 and waits for the new master's "promoted" line, then
// checks that the pidfile names it and that the old master is gone.
func (a *arbiterProc) upgrade(timeout time.Duration) (int, string, error) {
	old, err := a.master()
	if err != nil {
		return 0, "", err
	}
	mark := a.log.mark()
	start := time.Now()
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		return old, "", fmt.Errorf("kill -USR2 %d: %w", old, err)
	}
	line, ok := a.log.wait(mark, timeout, func(l logLine) bool {
		return (l.pid != old && strings.HasPrefix(l.msg, "promoted:")) ||
			(l.pid == old && (strings.HasPrefix(l.msg, "upgrade failed") || strings.HasPrefix(l.msg, "USR2 refused")))
	})
	switch {
	case !ok:
		return old, "", fmt.Errorf("USR2 to %d: no \"promoted\" line within %v", old, timeout)
	case line.pid == old:
		return old, "", fmt.Errorf("USR2 to %d: %s", old, line.msg)
	}
	took := time.Since(start)
	a.masters = append(a.masters, line.pid)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		pid, err := a.master()
		if err == nil && pid == line.pid {
			break
		}
		if time.Now().After(deadline) {
			return old, "", fmt.Errorf("USR2: new master %d promoted, but the pidfile says %d (%v)", line.pid, pid, err)
		}
	}
	if procfs.Alive(old) {
		return old, "", fmt.Errorf("USR2: new master %d promoted, but the old master %d is still running", line.pid, old)
	}
	return old, fmt.Sprintf("master %d → %d in %v", old, line.pid, took.Round(time.Millisecond)), nil
}

// completions fills in when each event took effect, from the log (see
// event.done); t0 is when the load started.
func (a *arbiterProc) completions(evs []event, t0 time.Time) {
	lines := a.log.snapshot()
	since := func(l logLine) time.Duration { return l.at.Sub(t0) }
	for i := range evs {
		ev := &evs[i]
		if ev.err != nil || ev.kind == evUSR2 {
			continue
		}
		from := t0.Add(ev.at)
		own := func(match func(logLine) bool) func(logLine) bool {
			return func(l logLine) bool { return l.pid == ev.pid && match(l) }
		}
		switch ev.kind {
		case evHUP:
			start, ok := findAfter(lines, from, own(msgHasPrefix("reloading:")))
			if !ok {
				ev.note = "no reload logged"
				continue
			}
			gen := start.int("generation")
			if l, ok := findAfter(lines, start.at, own(func(l logLine) bool {
				return l.msg == "generation ready" && l.int("generation") >= gen
			})); ok {
				ev.done = since(l)
			}
		case evTTIN:
			if l, ok := findAfter(lines, from, own(msgIs("worker ready"))); ok {
				ev.done = since(l)
			}
		case evTTOU:
			ret, ok := findAfter(lines, from, own(msgIs("retiring worker")))
			if !ok {
				continue
			}
			id := ret.int("worker")
			if l, ok := findAfter(lines, ret.at, own(func(l logLine) bool {
				return l.msg == "worker exited" && l.int("worker") == id
			})); ok {
				ev.done = since(l)
			}
		}
	}
}

// notes summarises the log lines at warn level or worse written during the
// load (from t0 on): each distinct message with its count and first
// occurrence.
func (a *arbiterProc) notes(t0 time.Time) []string {
	type seen struct {
		n     int
		first logLine
	}
	by := map[string]*seen{}
	var order []string
	for _, l := range a.log.snapshot() {
		if l.at.Before(t0) {
			continue
		}
		key := l.level + ": " + l.msg
		if l.fields == nil {
			key = "not JSON: " + clip(l.raw, 100)
		} else if l.level != "warn" && l.level != "error" && l.level != "fatal" && l.level != "panic" {
			continue
		}
		if by[key] == nil {
			by[key] = &seen{first: l}
			order = append(order, key)
		}
		by[key].n++
	}
	sort.SliceStable(order, func(i, j int) bool { return by[order[i]].n > by[order[j]].n })
	var out []string
	for _, k := range order {
		s := by[k]
		out = append(out, fmt.Sprintf("arbiter log, %d× %s (first at %.3fs: %s)", s.n, k,
			s.first.at.Sub(t0).Seconds(), clip(s.first.raw, 300)))
	}
	return out
}

// stop sends TERM to the master in charge, waits for it, then kills
// whatever is left of the process group; leftovers are an error.
func (a *arbiterProc) stop() error {
	pid, err := a.master()
	if err != nil {
		pid = a.masters[len(a.masters)-1]
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(20 * time.Second); procfs.Alive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	var leftErr error
	if left := groupLeft(a.pgid, 2*time.Second); len(left) > 0 {
		leftErr = fmt.Errorf("arbiter left processes behind in group %d: %v (killed)", a.pgid, left)
		_ = syscall.Kill(-a.pgid, syscall.SIGKILL)
	}
	select {
	case <-a.firstDone:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-a.pgid, syscall.SIGKILL)
		<-a.firstDone
	}
	if a.log != nil {
		select {
		case <-a.log.done:
		case <-time.After(5 * time.Second):
		}
	}
	return leftErr
}

// groupLeft waits up to timeout for process group pgid to be empty and
// returns what is still in it.
func groupLeft(pgid int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		left := procfs.Group(pgid)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tailLines(lines []logLine, n int) string {
	var b strings.Builder
	for _, l := range lines[max(0, len(lines)-n):] {
		b.WriteString("  " + l.raw + "\n")
	}
	return b.String()
}
