package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// StopWorker: a worker of two gets SIGSTOP under keep-alive load. Its
// goroutine dump must reach the log, it must be gone within timeout + 1 s
// of the stop and replaced, and no request sent after the stop may take
// longer than that: those on the stopped worker's connections fail when it
// dies, every other one is answered by the other worker.
func StopWorker(ctx context.Context, e *Env, s Scale) *Result {
	bound := s.Timeout + time.Second
	r := newResult("sigstop", fmt.Sprintf("SIGSTOP of a worker (of 2) under keep-alive load, timeout %v", s.Timeout))
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	f, err := startFleet(e, dir, fmt.Sprintf(`workers = 2
timeout = %q
graceful_timeout = "5s"

[[listen]]
address = "{{http}}"
`, s.Timeout), "http")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)

	l := loadgen.Start(ctx, loadgen.Options{Addr: f.addrs["http"], Request: loadgen.Request("GET", "/chaos", "arbiter-chaos"),
		Conns: s.Conns, Timeout: 3 * bound, Duration: bound + 30*time.Second, Latencies: true})
	defer l.Stop()
	if !waitFor(ctx, 10*time.Second, func() bool { return l.OK() >= int64(4*s.Conns) }) {
		return r.fail(fmt.Errorf("the load got %d responses in 10 s", l.OK()))
	}
	snap, err := f.snapshot()
	if err != nil {
		return r.fail(err)
	}
	ready := readyWorkers(snap)
	if len(ready) != 2 {
		return r.fail(fmt.Errorf("want 2 ready workers, have %s", describeWorkers(snap)))
	}
	pid := ready[0].PID
	mark := f.Log.Mark()
	stopped := l.Since()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return r.fail(fmt.Errorf("kill -STOP %d: %w", pid, err))
	}
	victim := kill{pid: pid, at: stopped}
	waitFor(ctx, time.Second, func() bool { return procfs.Stopped(pid) })
	if peers, err := procfs.TCPPeers(pid); err == nil {
		for _, p := range peers {
			victim.peers = append(victim.peers, p.String())
		}
	}

	since := func(l2 benchkit.LogLine) time.Duration { return l2.At.Sub(l.Began()) - stopped }
	wait := bound + 10*time.Second
	abort, aborted := f.Log.Wait(mark, wait, func(x benchkit.LogLine) bool {
		return x.Int("worker_pid") == pid && strings.HasPrefix(x.Msg, "worker timeout")
	})
	dump, dumped := f.Log.Wait(mark, wait, func(x benchkit.LogLine) bool {
		return x.PID == pid && x.Str("stream") == "output" && strings.Contains(x.Msg, "goroutine ")
	})
	exit, exited := f.Log.Wait(mark, wait, func(x benchkit.LogLine) bool {
		return x.Int("worker_pid") == pid && x.Msg == "worker exited"
	})
	var goneAfter time.Duration
	if waitFor(ctx, wait, func() bool { return !procfs.Alive(pid) }) {
		goneAfter = l.Since() - stopped
	}
	var back time.Duration
	if _, err := f.waitFull([]int{pid}, wait); err == nil {
		back = l.Since() - stopped
	} else {
		r.note("%v", err)
	}
	sleep(ctx, time.Second)
	l.Stop()
	ok, fails, _ := l.Result(0)

	var after []time.Duration
	var worst time.Duration
	var afterFailed int
	for _, smp := range l.Samples() {
		if smp.Start < stopped {
			continue
		}
		after = append(after, smp.Latency)
		worst = max(worst, smp.Latency)
		if !smp.OK {
			afterFailed++
		}
	}
	slices.Sort(after)
	_, stray := attribute(fails, []kill{victim})

	r.figure("requests", "%d (%d connections)", ok+int64(len(fails)), s.Conns)
	r.figure("connections the stopped worker held", "%d", len(victim.peers))
	if aborted {
		r.figure("SIGABRT after the stop", "%s", ms(since(abort)))
	}
	if dumped {
		r.figure("goroutine dump in the log after the stop", "%s (%d bytes)", ms(since(dump)), len(dump.Msg))
	}
	if exited {
		r.figure("worker exit logged after the stop", "%s (%s)", ms(since(exit)), exit.Str("signal")+exitCode(exit))
	}
	r.figure("worker gone after the stop", "%s", ms(goneAfter))
	r.figure("fleet whole again after the stop", "%s", ms(back))
	r.figure("requests sent after the stop", "%d, %d failed", len(after), afterFailed)
	r.figure("their latency", "p50 %s, p99 %s, max %s", ms(quantile(after, 0.5)), ms(quantile(after, 0.99)), ms(worst))

	r.check("the goroutine dump reaches the log, under the worker's pid", dumped, "%v", dumped)
	r.check(fmt.Sprintf("the worker is killed within timeout + 1 s (%v)", bound), goneAfter > 0 && goneAfter <= bound, "gone after %s", ms(goneAfter))
	r.check("it is replaced", back > 0, "fleet whole after %s", ms(back))
	r.check(fmt.Sprintf("no request sent after the stop waits longer than %v", bound), len(after) > 0 && worst <= bound,
		"max %s over %d requests", ms(worst), len(after))
	r.check("only requests on the stopped worker's connections fail", len(stray) == 0, "%d other failures%s", len(stray), sampleFailures(stray))
	return r
}

func exitCode(l benchkit.LogLine) string {
	if _, ok := l.Fields["exit_code"]; ok {
		return fmt.Sprintf("exit code %d", l.Int("exit_code"))
	}
	return ""
}

// quantile returns the q-quantile of sorted ds (0 for none).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
