package main

import (
	"fmt"
	"path/filepath"
	"sort"
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

// arbiterProc is a running arbiter and every master it has had.
type arbiterProc struct {
	*benchkit.Arbiter
	masters []int // every master seen, in order
}

// startArbiter writes the config into dir, with app as its app section
// ("" for the echo app), starts `bin run` and waits for the first
// generation to be ready and addr to accept connections.
func startArbiter(bin, dir string, workers int, addr, protocol, app string) (*arbiterProc, error) {
	pidfile := filepath.Join(dir, "arbiter.pid")
	a, err := benchkit.StartArbiter(bin, dir, fmt.Sprintf(arbiterConfig, workers, pidfile, addr, protocol, app), pidfile, addr)
	if err != nil {
		return nil, err
	}
	return &arbiterProc{Arbiter: a, masters: []int{a.PGID}}, nil
}

func (a *arbiterProc) signal(kind string) (int, error) {
	pid, err := a.Master()
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
	old, err := a.Master()
	if err != nil {
		return 0, "", err
	}
	mark := a.Log.Mark()
	start := time.Now()
	if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
		return old, "", fmt.Errorf("kill -USR2 %d: %w", old, err)
	}
	line, ok := a.Log.Wait(mark, timeout, func(l benchkit.LogLine) bool {
		return (l.PID != old && strings.HasPrefix(l.Msg, "promoted:")) ||
			(l.PID == old && (strings.HasPrefix(l.Msg, "upgrade failed") || strings.HasPrefix(l.Msg, "USR2 refused")))
	})
	switch {
	case !ok:
		return old, "", fmt.Errorf("USR2 to %d: no \"promoted\" line within %v", old, timeout)
	case line.PID == old:
		return old, "", fmt.Errorf("USR2 to %d: %s", old, line.Msg)
	}
	took := time.Since(start)
	a.masters = append(a.masters, line.PID)
	a.Latest = line.PID
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		pid, err := a.Master()
		if err == nil && pid == line.PID {
			break
		}
		if time.Now().After(deadline) {
			return old, "", fmt.Errorf("USR2: new master %d promoted, but the pidfile says %d (%v)", line.PID, pid, err)
		}
	}
	// The old master exits once it has seen the new one take over: give it
	// time on a loaded machine.
	for deadline := time.Now().Add(10 * time.Second); procfs.Alive(old); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return old, "", fmt.Errorf("USR2: new master %d promoted, but the old master %d is still running 10 s later", line.PID, old)
		}
	}
	return old, fmt.Sprintf("master %d → %d in %v", old, line.PID, took.Round(time.Millisecond)), nil
}

// completions fills in when each event took effect, from the log (see
// event.done); t0 is when the load started.
func (a *arbiterProc) completions(evs []event, t0 time.Time) {
	lines := a.Log.Snapshot()
	since := func(l benchkit.LogLine) time.Duration { return l.At.Sub(t0) }
	for i := range evs {
		ev := &evs[i]
		if ev.err != nil || ev.kind == evUSR2 {
			continue
		}
		from := t0.Add(ev.at)
		own := func(match func(benchkit.LogLine) bool) func(benchkit.LogLine) bool {
			return func(l benchkit.LogLine) bool { return l.PID == ev.pid && match(l) }
		}
		switch ev.kind {
		case evHUP:
			start, ok := benchkit.FindAfter(lines, from, own(benchkit.MsgHasPrefix("reloading:")))
			if !ok {
				ev.note = "no reload logged"
				continue
			}
			gen := start.Int("generation")
			if l, ok := benchkit.FindAfter(lines, start.At, own(func(l benchkit.LogLine) bool {
				return l.Msg == "generation ready" && l.Int("generation") >= gen
			})); ok {
				ev.done = since(l)
			}
		case evTTIN:
			if l, ok := benchkit.FindAfter(lines, from, own(benchkit.MsgIs("worker ready"))); ok {
				ev.done = since(l)
			}
		case evTTOU:
			ret, ok := benchkit.FindAfter(lines, from, own(benchkit.MsgIs("retiring worker")))
			if !ok {
				continue
			}
			id := ret.Int("worker")
			if l, ok := benchkit.FindAfter(lines, ret.At, own(func(l benchkit.LogLine) bool {
				return l.Msg == "worker exited" && l.Int("worker") == id
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
		first benchkit.LogLine
	}
	by := map[string]*seen{}
	var order []string
	for _, l := range a.Log.Snapshot() {
		if l.At.Before(t0) {
			continue
		}
		key := l.Level + ": " + l.Msg
		if l.Fields == nil {
			key = "not JSON: " + benchkit.Clip(l.Raw, 100)
		} else if l.Level != "warn" && l.Level != "error" && l.Level != "fatal" && l.Level != "panic" {
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
			s.first.At.Sub(t0).Seconds(), benchkit.Clip(s.first.Raw, 300)))
	}
	return out
}

func (a *arbiterProc) stop() error { return a.Stop() }
