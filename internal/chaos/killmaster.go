package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// slowScript answers at once, then keeps running with a child of its own in
// its process group (the shell waits for sleep, so sleep is not exec'd in
// its place).
const slowScript = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nstarted\n'
sleep 600
echo never
`

// KillMaster: the master gets kill -9 while its workers serve a keep-alive
// load and s.Scripts CGI scripts, each with a child, are running. Every
// worker, script and script child must be gone within graceful_timeout
// (plus a second for the exits to land), with nothing left running for
// init to take over. The harness makes itself a subreaper for the run, so
// the orphans come to it instead of init: it sees each exit and reaps it.
func KillMaster(ctx context.Context, e *Env, s Scale) *Result {
	r := newResult("kill-master", fmt.Sprintf("kill -9 of the master with %d CGI scripts in flight (graceful_timeout %v)", s.Scripts, s.GracefulTimeout))
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	if err := writeScript(dir, "slow.sh", slowScript); err != nil {
		return r.fail(err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return r.fail(fmt.Errorf("become a subreaper: %w", err))
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	f, err := startFleet(e, dir, fmt.Sprintf(`workers = 2
graceful_timeout = %q

[[listen]]
address = "{{http}}"

`+echoWithCGI, s.GracefulTimeout), "http")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)
	mpid := f.PGID

	l := loadgen.Start(ctx, loadgen.Options{Addr: f.addrs["http"], Request: loadgen.Request("GET", "/chaos", "arbiter-chaos"),
		Conns: s.Conns, Timeout: 5 * time.Second, Duration: s.GracefulTimeout + 20*time.Second})
	defer l.Stop()
	scriptsDone := startScripts(ctx, "http://"+f.addrs["http"]+"/cgi/slow.sh", s.Scripts)
	defer func() { <-scriptsDone }()

	// Wait for every script and its sleep: the master's tree is then its
	// workers, the scripts and their children.
	var tree []int
	if !waitFor(ctx, 20*time.Second, func() bool {
		tree = descendants(mpid)
		return len(tree) >= 2+2*s.Scripts && l.OK() > 0
	}) {
		return r.fail(fmt.Errorf("the master's tree is %v, want 2 workers and %d scripts with a child each", tree, s.Scripts))
	}
	workers := procfs.Children(mpid)
	okBefore := l.OK()

	if err := syscall.Kill(mpid, syscall.SIGKILL); err != nil {
		return r.fail(fmt.Errorf("kill -9 the master: %w", err))
	}
	killed := time.Now()
	gone := map[int]time.Duration{}
	reaped := 0
	deadline := s.GracefulTimeout + time.Second
	for time.Since(killed) < deadline+2*time.Second && len(gone) < len(tree) {
		for _, pid := range tree {
			if _, ok := gone[pid]; !ok && !procfs.Alive(pid) {
				gone[pid] = time.Since(killed)
			}
		}
		reaped += reapOrphans(mpid)
		time.Sleep(5 * time.Millisecond)
	}
	reaped += reapOrphans(mpid)
	left := liveOrphans(mpid)
	defer func() {
		// Survivors are a failure; do not leave them to the machine.
		for _, pid := range append(left, tree...) {
			if procfs.Alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		waitFor(context.Background(), 5*time.Second, func() bool {
			reapOrphans(mpid)
			return len(liveOrphans(mpid)) == 0
		})
	}()

	var last, lastWorker time.Duration
	for _, pid := range tree {
		d, ok := gone[pid]
		if !ok {
			continue
		}
		last = max(last, d)
		if slices.Contains(workers, pid) {
			lastWorker = max(lastWorker, d)
		}
	}
	stillThere := len(tree) - len(gone)
	l.Stop()
	r.figure("processes under the master at the kill", "%d (%d workers, %d scripts, %d script children)",
		len(tree), len(workers), s.Scripts, len(tree)-len(workers)-s.Scripts)
	r.figure("last worker gone after the kill", "%s", ms(lastWorker))
	r.figure("last process gone after the kill", "%s", ms(last))
	r.figure("requests answered during the drain", "%d", l.OK()-okBefore)
	r.figure("orphans reaped by the harness (as init)", "%d", reaped)
	r.check(fmt.Sprintf("every worker, script and script child is gone within graceful_timeout + 1 s (%v)", deadline),
		stillThere == 0 && last <= deadline, "%d still running; the last exit after %s", stillThere, ms(last))
	r.check("nothing is left running for init to take over", len(left) == 0 && stillThere == 0,
		"orphans still running: %v", left)
	if err := refused(f.addrs["http"]); err != nil {
		r.check("the listener is closed once the workers are gone", false, "%v", err)
	} else {
		r.check("the listener is closed once the workers are gone", true, "connection refused")
	}
	return r
}

// startScripts sends n requests for url at once; the returned channel is
// closed when all have ended (a worker closing the connection ends them).
func startScripts(ctx context.Context, url string, n int) <-chan struct{} {
	done := make(chan struct{})
	client := &http.Client{Timeout: time.Minute}
	finished := make(chan struct{}, n)
	for range n {
		go func() {
			defer func() { finished <- struct{}{} }()
			req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	go func() {
		for range n {
			<-finished
		}
		close(done)
	}()
	return done
}

// descendants returns every live process below pid.
func descendants(pid int) []int {
	kids := map[int][]int{}
	for _, p := range procfs.All() {
		if p.Live() {
			kids[p.PPID] = append(kids[p.PPID], p.PID)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// reapOrphans reaps the zombies reparented to this process (a subreaper),
// leaving alone the first master (not), which os/exec waits for. It
// returns how many it reaped.
func reapOrphans(not int) int {
	n := 0
	for _, z := range procfs.Zombies(os.Getpid()) {
		if z == not {
			continue
		}
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(z, &ws, syscall.WNOHANG, nil); err == nil && pid == z {
			n++
		}
	}
	return n
}

// liveOrphans returns the live children of this process other than not:
// during the scenario it starts no other process, so they are processes
// reparented to it.
func liveOrphans(not int) []int {
	var out []int
	for _, p := range procfs.Children(os.Getpid()) {
		if p != not {
			out = append(out, p)
		}
	}
	return out
}

// refused reports nil when addr refuses connections.
func refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s still accepts connections", addr)
	}
	return nil
}
