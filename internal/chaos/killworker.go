package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// kill is one worker killed by a scenario.
type kill struct {
	pid   int
	at    time.Duration // since the load started, just before the kill
	peers []string      // the client ends of its TCP connections
	back  time.Duration // until the fleet was whole again; 0 if it never was
}

// killWorker kills pid with SIGKILL. It stops the worker first and reads
// which connections it holds, so that every failure the kill causes can be
// traced to it: a stopped process accepts nothing, so the list cannot
// change before the SIGKILL. The stop lasts as long as reading /proc.
func killWorker(pid int, since func() time.Duration) (kill, error) {
	k := kill{pid: pid, at: since()}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return k, fmt.Errorf("kill -STOP %d: %w", pid, err)
	}
	waitFor(context.Background(), time.Second, func() bool { return procfs.Stopped(pid) })
	peers, err := procfs.TCPPeers(pid)
	if kerr := syscall.Kill(pid, syscall.SIGKILL); kerr != nil {
		return k, fmt.Errorf("kill -KILL %d: %w", pid, kerr)
	}
	if err != nil {
		return k, err
	}
	for _, p := range peers {
		k.peers = append(k.peers, p.String())
	}
	return k, nil
}

// attribute sorts failures into those on a connection a killed worker held
// (failed no earlier than the kill, and by the connection being cut) and the
// rest. A client port can come back on a new connection after its
// connection was cut, and be held by a later victim: a failure goes to the
// latest kill before it that held its port.
func attribute(fails []loadgen.Failure, kills []kill) (byKill []int, stray []loadgen.Failure) {
	owners := map[string][]int{} // port → kills that held it, in order
	for i, k := range kills {
		for _, p := range k.peers {
			owners[p] = append(owners[p], i)
		}
	}
	byKill = make([]int, len(kills))
	for _, f := range fails {
		owner := -1
		for _, i := range owners[f.Local] {
			if kills[i].at <= f.At {
				owner = i
			}
		}
		if owner >= 0 && (f.Kind == loadgen.FailReset || f.Kind == loadgen.FailEOF) {
			byKill[owner]++
			continue
		}
		stray = append(stray, f)
	}
	return byKill, stray
}

// KillWorkers: a keep-alive load on a fleet of s.KillWorkers while a random
// ready worker gets kill -9 every s.KillEvery for s.KillFor. Only requests
// on connections the killed worker held may fail, and the fleet must be
// whole again after each kill; when it is not whole by the next kill's
// time, that kill waits.
func KillWorkers(ctx context.Context, e *Env, s Scale) *Result {
	r := newResult("kill-worker", fmt.Sprintf("kill -9 of a random worker (of %d) every %v for %v under keep-alive load", s.KillWorkers, s.KillEvery, s.KillFor))
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	f, err := startFleet(e, dir, fmt.Sprintf(`workers = %d
graceful_timeout = "5s"

[[listen]]
address = "{{http}}"
`, s.KillWorkers), "http")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)

	l := loadgen.Start(ctx, loadgen.Options{Addr: f.addrs["http"], Request: loadgen.Request("GET", "/chaos", "arbiter-chaos"),
		Conns: s.Conns, Timeout: 5 * time.Second, Duration: s.KillFor + 20*time.Second})
	defer l.Stop()
	// Every connection has been served before the first kill.
	if !waitFor(ctx, 10*time.Second, func() bool { return l.OK() >= int64(4*s.Conns) }) {
		return r.fail(fmt.Errorf("the load got %d responses in 10 s", l.OK()))
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	var kills []kill
	var late int
	t0 := l.Since()
	for i := 0; ; i++ {
		at := t0 + time.Duration(i)*s.KillEvery
		if at-t0 >= s.KillFor || ctx.Err() != nil {
			break
		}
		if now := l.Since(); now < at {
			sleep(ctx, at-now)
		} else if i > 0 {
			late++
		}
		snap, err := f.snapshot()
		if err != nil {
			return r.fail(err)
		}
		ready := readyWorkers(snap)
		if len(ready) == 0 {
			return r.fail(fmt.Errorf("no ready worker to kill: %s", describeWorkers(snap)))
		}
		k, err := killWorker(ready[rng.IntN(len(ready))].PID, l.Since)
		if err != nil {
			return r.fail(err)
		}
		if _, err := f.waitFull([]int{k.pid}, 15*time.Second); err == nil {
			k.back = l.Since() - k.at
		} else {
			r.note("after the kill of %d: %v", k.pid, err)
		}
		kills = append(kills, k)
		if k.back == 0 {
			break
		}
	}
	// Requests cut by the last kill have failed by now; let the load run a
	// moment on the whole fleet.
	sleep(ctx, time.Second)
	l.Stop()
	ok, fails, _ := l.Result(0)

	byKill, stray := attribute(fails, kills)
	var backMax time.Duration
	var peers, maxPeers, maxFailed, whole int
	var backs []time.Duration
	for i, k := range kills {
		peers += len(k.peers)
		maxPeers = max(maxPeers, len(k.peers))
		maxFailed = max(maxFailed, byKill[i])
		if k.back > 0 {
			whole++
			backs = append(backs, k.back)
			backMax = max(backMax, k.back)
		}
	}
	total := ok + int64(len(fails))
	r.figure("requests", "%d (%d connections, %v)", total, s.Conns, l.Since().Round(100*time.Millisecond))
	r.figure("failed requests", "%d (%s of all)", len(fails), pct(int64(len(fails)), total))
	r.figure("workers killed", "%d", len(kills))
	r.figure("connections the killed workers held", "%d (at most %d per kill)", peers, maxPeers)
	r.figure("failed requests per kill", "%.2f mean, %d max", ratio(len(fails)-len(stray), len(kills)), maxFailed)
	r.figure("fleet whole again after a kill", "%s median, %s max", ms(median(backs)), ms(backMax))
	r.figure("kills that waited for the fleet", "%d", late)

	if len(stray) > 0 {
		f := stray[0]
		for i := len(kills) - 1; i >= 0; i-- {
			if kills[i].at <= f.At {
				r.note("the first other failure came %s after the kill of %d (which held %d connections)",
					ms(f.At-kills[i].at), kills[i].pid, len(kills[i].peers))
				break
			}
		}
	}
	r.check("only requests on a killed worker's connections fail, by that connection being cut", len(stray) == 0,
		"%d other failures%s", len(stray), sampleFailures(stray))
	r.check("the fleet is whole again after each kill (within 15 s)", whole == len(kills) && len(kills) > 0,
		"%d of %d kills", whole, len(kills))
	r.target(fmt.Sprintf("the fleet is whole again before the next kill (%v)", s.KillEvery), backMax <= s.KillEvery && whole == len(kills),
		"max %s", ms(backMax))
	return r
}

// sampleFailures lists up to three failures.
func sampleFailures(fs []loadgen.Failure) string {
	out := ""
	for _, f := range fs[:min(3, len(fs))] {
		out += fmt.Sprintf("; t=%.3fs %s %s (%s)", f.At.Seconds(), f.Kind, f.Detail, f.Local)
	}
	return out
}

// waitFor polls cond every 10 ms until it holds (true), timeout passes or
// ctx ends (false).
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
