package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// sample is the master's resources at a quiet moment.
type sample struct {
	respawns                         int
	fds, threads, goroutines, zombie int
	rss                              int64
}

// threadSlack is the thread growth the soak tolerates: see Soak.
const threadSlack = 2

// rssSlack is the RSS growth the soak tolerates between its first sample
// after warm-up and its last: the Go heap and the allocator's free lists
// settle at a size that depends on the peak, not on the count, and a
// sample catches them at any point of a GC cycle.
const rssSlack = 2 << 20

// Soak: a keep-alive load on two workers with max_requests = 1, so that
// every worker retires after its first request and is replaced, until
// s.Respawns workers have been started. Every s.SampleEvery respawns the
// load pauses until the fleet is quiet (as many workers as wanted, all
// ready, the master's snapshot fresh) and the master's descriptors,
// threads, goroutines, RSS and zombie children are sampled. None may grow
// from the first sample after warm-up (the first s.SampleEvery) to the
// last: descriptors and goroutines not at all, threads by at most
// threadSlack, RSS by at most rssSlack; and no sample may find a zombie.
func Soak(ctx context.Context, e *Env, s Scale) *Result {
	r := newResult("soak", fmt.Sprintf("respawn soak: %d worker respawns (max_requests = 1 under load), sampled every %d", s.Respawns, s.SampleEvery))
	dir, err := e.scratch(r.Name)
	if err != nil {
		return r.fail(err)
	}
	f, err := startFleet(e, dir, `workers = 2
max_requests = 1
graceful_timeout = "5s"

[[listen]]
address = "{{http}}"
`, "http")
	if err != nil {
		return r.fail(err)
	}
	defer f.finish(r)

	snap, err := f.waitFull(nil, time.Minute)
	if err != nil {
		return r.fail(err)
	}
	spawned0 := snap.Spawned // the first workers are no respawns
	first, err := f.quiet(spawned0)
	if err != nil {
		return r.fail(err)
	}
	samples := []sample{first}
	var loadFor time.Duration
	for target := s.SampleEvery; target <= s.Respawns; target += s.SampleEvery {
		if ctx.Err() != nil {
			return r.fail(ctx.Err())
		}
		t0 := time.Now()
		l := loadgen.Start(ctx, loadgen.Options{Addr: f.addrs["http"], Request: loadgen.Request("GET", "/chaos", "arbiter-chaos"),
			Conns: 4, Timeout: 10 * time.Second, Duration: time.Minute})
		reached := waitFor(ctx, 10*time.Minute, func() bool {
			snap, err := f.snapshot()
			return err == nil && snap.Spawned-spawned0 >= target
		})
		l.Stop()
		loadFor += time.Since(t0)
		_, fails, _ := l.Result(0)
		if len(fails) > 0 {
			r.note("%d failed requests before respawn %d; first: %s %s", len(fails), target, fails[0].Kind, fails[0].Detail)
		}
		if !reached {
			return r.fail(fmt.Errorf("respawn %d not reached in 10 minutes", target))
		}
		smp, err := f.quiet(spawned0)
		if err != nil {
			return r.fail(err)
		}
		samples = append(samples, smp)
		e.logf("soak: %d respawns: %s", smp.respawns, smp)
	}

	var rows []string
	for _, smp := range samples {
		rows = append(rows, smp.String())
	}
	r.Details = rows
	last := samples[len(samples)-1]
	base := samples[min(1, len(samples)-1)]
	respawned := last.respawns
	r.figure("respawns", "%d in %v of load (%.0f/s)", respawned, loadFor.Round(time.Second), float64(respawned)/loadFor.Seconds())
	r.figure("master at start", "%s", first)
	r.figure(fmt.Sprintf("master after %d respawns", base.respawns), "%s", base)
	r.figure(fmt.Sprintf("master after %d respawns", last.respawns), "%s", last)
	maxZombies := 0
	for _, smp := range samples {
		maxZombies = max(maxZombies, smp.zombie)
	}
	r.check("the master's descriptors do not grow", last.fds <= base.fds, "%d → %d", base.fds, last.fds)
	// The Go runtime keeps a thread for each syscall that blocked at once
	// (fork, wait4, pipe reads): the count steps up to the peak
	// concurrency and stays, which is no leak; a leak grows with the
	// respawns. threadSlack steps are allowed over the whole soak.
	r.check(fmt.Sprintf("its threads do not grow (by more than %d, the runtime's own steps)", threadSlack), last.threads <= base.threads+threadSlack,
		"%d → %d", base.threads, last.threads)
	r.check("its goroutines do not grow", last.goroutines <= base.goroutines, "%d → %d", base.goroutines, last.goroutines)
	r.check(fmt.Sprintf("its RSS does not grow (by more than %d MiB)", rssSlack>>20), last.rss <= base.rss+rssSlack,
		"%.1f → %.1f MiB", mib(base.rss), mib(last.rss))
	r.check("it has no zombie children at any sample", maxZombies == 0, "at most %d", maxZombies)
	return r
}

func (s sample) String() string {
	return fmt.Sprintf("%5d respawns: %3d fds, %2d threads, %3d goroutines, %5.1f MiB RSS, %d zombies",
		s.respawns, s.fds, s.threads, s.goroutines, mib(s.rss), s.zombie)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// quiet waits until the fleet is whole with no worker booting or retiring
// and the master has published a snapshot since, then samples the master;
// respawns counts the workers started beyond the first spawnedBefore.
func (f *fleet) quiet(spawnedBefore int) (sample, error) {
	snap, err := f.waitFull(nil, time.Minute)
	if err != nil {
		return sample{}, err
	}
	// A snapshot published after the fleet went quiet: the master's
	// goroutines of the last respawn (a reaper, a log copier) are gone.
	settled := snap.At
	var s *master.Snapshot
	if !waitFor(context.Background(), 10*time.Second, func() bool {
		s, err = f.snapshot()
		return err == nil && full(s, nil) && s.At.Sub(settled) > 200*time.Millisecond
	}) {
		return sample{}, fmt.Errorf("no quiet snapshot: %v", err)
	}
	// Three looks 200 ms apart; the least of each count: a descriptor or
	// goroutine of a moment (the status request being served, a reaper
	// finishing) is no leak, and a leak is in all three.
	pid := s.PID
	out := sample{respawns: max(0, s.Spawned-spawnedBefore), fds: procfs.FDs(pid), threads: procfs.Threads(pid),
		goroutines: s.Goroutines, zombie: len(procfs.Zombies(pid)), rss: procfs.RSS(pid)}
	for range 2 {
		time.Sleep(200 * time.Millisecond)
		s2, err := f.snapshot()
		if err != nil {
			return out, err
		}
		out.fds = min(out.fds, procfs.FDs(pid))
		out.threads = min(out.threads, procfs.Threads(pid))
		out.goroutines = min(out.goroutines, s2.Goroutines)
		out.zombie = max(out.zombie, len(procfs.Zombies(pid)))
		out.rss = procfs.RSS(pid)
	}
	return out, nil
}
