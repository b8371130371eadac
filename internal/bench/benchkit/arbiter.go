package benchkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// Arbiter is an arbiter a harness started: the first master is the
// harness's child and leads a process group of its own; masters started by
// USR2 are its children, then orphans. They are all in that group, and all
// write to one log pipe, which Log reads.
type Arbiter struct {
	Dir     string // holds app.toml and arbiter.log, a copy of the log
	Pidfile string // the config's pidfile; "" when it has none
	PGID    int    // the first master's pid
	Log     *LogWatch
	// Latest is the master last known to be in charge, for when the
	// pidfile cannot be read: the first one until the caller says
	// otherwise (after a USR2).
	Latest int

	first     *exec.Cmd
	firstDone chan struct{}
}

// StartArbiter writes config into dir/app.toml, starts `bin run` with it and
// waits up to 30 s for the first "generation ready" line, then for each
// address in ready to accept connections. pidfile is the pidfile the config
// names ("" for none). On failure everything it started is stopped and the
// error quotes the end of the log.
func StartArbiter(bin, dir, config, pidfile string, ready ...string) (*Arbiter, error) {
	return StartArbiterWhen(bin, dir, config, pidfile, func(a *Arbiter) bool {
		_, ok := a.Log.Wait(0, 30*time.Second, MsgIs("generation ready"))
		return ok
	}, ready...)
}

// StartArbiterWhen is StartArbiter with another sign of the first
// generation: up is called once and returns whether it came in time (30 s),
// for a config whose log does not go to stderr.
func StartArbiterWhen(bin, dir, config, pidfile string, up func(*Arbiter) bool, ready ...string) (*Arbiter, error) {
	cfgPath := filepath.Join(dir, "app.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	a := &Arbiter{Dir: dir, Pidfile: pidfile, firstDone: make(chan struct{})}
	// The write end goes to the master as a file (no copying goroutine in
	// os/exec), so that a new master keeps writing to it after the first
	// one has exited, and Wait does not wait for the new master.
	a.first = exec.Command(bin, "run", cfgPath)
	a.first.Stdout, a.first.Stderr = w, w
	a.first.Dir = dir
	a.first.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = a.first.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start arbiter: %w", err)
	}
	a.PGID = a.first.Process.Pid
	a.Latest = a.PGID
	go func() {
		_ = a.first.Wait()
		close(a.firstDone)
	}()
	if a.Log, err = WatchLog(r, filepath.Join(dir, "arbiter.log")); err != nil {
		a.Stop()
		return nil, err
	}
	if !up(a) {
		a.Stop()
		return nil, fmt.Errorf("arbiter: no ready generation within 30 s; log:\n%s", TailLines(a.Log.Snapshot(), 20))
	}
	for _, addr := range ready {
		if err := WaitAccepting(addr, 10*time.Second, a.firstDone); err != nil {
			a.Stop()
			return nil, err
		}
	}
	return a, nil
}

// Master returns the pid in the pidfile, the master in charge; Latest when
// there is no pidfile.
func (a *Arbiter) Master() (int, error) {
	if a.Pidfile == "" {
		return a.Latest, nil
	}
	b, err := os.ReadFile(a.Pidfile)
	if err != nil {
		return 0, fmt.Errorf("read the pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s holds %q", a.Pidfile, b)
	}
	return pid, nil
}

// FirstDone is closed once the first master has exited and been reaped.
func (a *Arbiter) FirstDone() <-chan struct{} { return a.firstDone }

// Stop sends TERM to the master in charge (Latest when the pidfile cannot
// be read), waits up to 20 s for it, then kills whatever is left of the
// process group; leftovers are an error. A master that is already gone
// (killed by the caller) is fine: then only the group is checked.
func (a *Arbiter) Stop() error {
	pid, err := a.Master()
	if err != nil {
		pid = a.Latest
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(20 * time.Second); procfs.Alive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	var leftErr error
	if left := GroupLeft(a.PGID, 2*time.Second); len(left) > 0 {
		leftErr = fmt.Errorf("arbiter left processes behind in group %d: %v (killed)", a.PGID, left)
		_ = syscall.Kill(-a.PGID, syscall.SIGKILL)
	}
	select {
	case <-a.firstDone:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-a.PGID, syscall.SIGKILL)
		<-a.firstDone
	}
	if a.Log != nil {
		select {
		case <-a.Log.Done():
		case <-time.After(5 * time.Second):
		}
	}
	return leftErr
}

// GroupLeft waits up to timeout for process group pgid to be empty and
// returns what is still in it.
func GroupLeft(pgid int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		left := procfs.Group(pgid)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}
