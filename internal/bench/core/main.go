// Command core is `make bench-core`: it measures arbiter against a
// single-process net/http server serving the same handler, on this machine,
// in one run.
//
//	go run ./internal/bench/core -duration 10s
//
// It builds bin/arbiter, a library-mode hello program and the net/http
// baseline into a temporary directory (without -race), then for each app
// (echo, hello, and hello+tls: hello over HTTPS on both servers with one
// certificate made for the run) puts the same wrk load (-t2 -c64, keep-alive, after a short
// warm-up) on the baseline and on arbiter with 2 workers, and prints
// requests per second, latency, errors and the ratio arbiter / net/http
// against a target of 0.9. It also measures how long SIGTTIN takes to
// produce a ready worker and the RSS of idle workers and of the master.
//
// wrk and the servers share the machine's CPUs; nothing is pinned. Each
// measurement also reports the share of CPU time other processes took
// meanwhile, and the report warns when it exceeds 10%. A ratio
// below the target prints MISS but does not fail the run: the exit code is
// 0 after a complete run, 1 when something could not be measured (wrk
// missing, a build or a server failing), 130 after SIGINT or SIGTERM. Every
// process it started is killed (by process group) on every way out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/bench/core/handlers"
)

// Figures the report is measured against.
const (
	targetRatio   = 0.9
	noisyShare    = 0.10 // other processes' CPU share above which the report warns
	ttinRounds    = 5
	idleBeforeRSS = time.Second
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long wrk loads each server (whole seconds, at least 1s)")
	flag.Parse()
	if flag.NArg() > 0 || *duration < time.Second || *duration%time.Second != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := benchkit.CloseInherited(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(run(*duration))
}

// env is what every measurement needs.
type env struct {
	ps       *procSet
	wrk      *wrk
	dir      string
	bins     binaries
	duration time.Duration
	warmup   time.Duration
}

func run(duration time.Duration) (code int) {
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Fprintln(os.Stderr, "bench-core needs wrk, which is not on PATH. Install it with:")
		fmt.Fprintln(os.Stderr, "  apt-get install -y wrk")
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()

	dir, err := os.MkdirTemp("", "arbiter-bench-core-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-core:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ps := newProcSet()
	defer ps.killAll() // runs before RemoveAll: the binaries are in dir

	fail := func(err error) int {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench-core: interrupted; stopping every process it started")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench-core:", err)
		return 1
	}

	e := &env{ps: ps, dir: dir, duration: duration, warmup: warmupFor(duration)}
	if e.wrk, err = newWrk(ps, dir); err != nil {
		return fail(err)
	}
	root, err := benchkit.ModuleRoot()
	if err != nil {
		return fail(err)
	}
	progress("building arbiter, the library-mode hello program and the net/http baseline (no -race) ...")
	if e.bins, err = build(ctx, ps, root, filepath.Join(dir, "bin")); err != nil {
		return fail(err)
	}

	rep := report{
		duration: duration, warmup: e.warmup, cpus: runtime.NumCPU(), loadavg: loadAverage(),
		start: time.Now(),
	}
	certs, err := newTLSFiles(dir)
	if err != nil {
		return fail(err)
	}
	for _, sc := range []struct {
		app string
		tls *tlsFiles
	}{{handlers.EchoName, nil}, {handlers.HelloName, nil}, {handlers.HelloName, certs}} {
		r, err := e.measureApp(ctx, sc.app, sc.tls)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", sc.app, err))
		}
		rep.apps = append(rep.apps, r)
	}
	rep.elapsed = time.Since(rep.start)
	rep.print(os.Stdout)
	return 0
}

// warmupFor is the warm-up before each measurement: a fifth of the
// measured time, between 1 s and 3 s.
func warmupFor(d time.Duration) time.Duration {
	return min(max(d/5, time.Second), 3*time.Second).Round(time.Second)
}

// appResult is everything measured for one app.
type appResult struct {
	app        string
	base, arb  measurement
	gomaxprocs int             // the baseline's
	baseRSS    int64           // the baseline process, idle after its load
	masterRSS  int64           // arbiter's master, idle after the load
	workerRSS  map[int]int64   // arbiter's workers by id, idle after the load
	ttin       []time.Duration // SIGTTIN to "worker ready", in order
}

// measureApp loads the baseline, then arbiter, with app, over HTTPS with
// the same certificate when t is set; each server is stopped before the
// next starts, so that they never compete.
func (e *env) measureApp(ctx context.Context, app string, t *tlsFiles) (r appResult, err error) {
	r.app = app
	if t != nil {
		r.app += "+tls"
	}

	progress("%s: net/http baseline: warm-up %v, then %v of load", r.app, e.warmup, e.duration)
	b, err := startBaseline(ctx, e.ps, e.bins.baseline, app, t)
	if err != nil {
		if b != nil {
			b.stop(ctx, e.ps)
		}
		return r, err
	}
	r.gomaxprocs = b.gomaxprocs
	r.base, err = e.load(ctx, b.addr, app, t, func() []int { return []int{b.p.pid()} })
	if err == nil {
		err = idle(ctx)
	}
	if err == nil {
		r.baseRSS, err = vmRSS(b.p.pid())
	}
	b.stop(ctx, e.ps)
	if err != nil {
		return r, fmt.Errorf("net/http baseline: %w", err)
	}

	progress("%s: arbiter, %d workers: warm-up %v, then %v of load", r.app, arbiterWorkers, e.warmup, e.duration)
	bin := e.bins.arbiter
	if app == handlers.HelloName {
		bin = e.bins.hello
	}
	a, err := startArbiter(ctx, e.ps, bin, e.dir, app, t)
	if a != nil {
		defer a.stop(ctx, e.ps)
	}
	if err != nil {
		return r, fmt.Errorf("arbiter: %w", err)
	}
	if r.arb, err = e.load(ctx, a.addr, app, t, a.pids); err != nil {
		return r, fmt.Errorf("arbiter: %w", err)
	}
	if err := idle(ctx); err != nil {
		return r, err
	}
	if r.masterRSS, err = vmRSS(a.p.pid()); err != nil {
		return r, fmt.Errorf("arbiter master: %w", err)
	}
	r.workerRSS = map[int]int64{}
	pids := a.workerPIDs()
	if len(pids) != arbiterWorkers {
		return r, fmt.Errorf("arbiter: %d workers alive after the load, want %d (did one crash?)", len(pids), arbiterWorkers)
	}
	for id, pid := range pids {
		if r.workerRSS[id], err = vmRSS(pid); err != nil {
			return r, fmt.Errorf("arbiter worker %d: %w", id, err)
		}
	}
	progress("%s: arbiter: SIGTTIN %d times", r.app, ttinRounds)
	if r.ttin, err = a.ttin(ctx, ttinRounds); err != nil {
		return r, fmt.Errorf("arbiter: TTIN: %w", err)
	}
	return r, nil
}

// measurement is one server's figures under load.
type measurement struct {
	wrkResult
	cores float64 // CPUs the server kept busy, on average
	other float64 // share of the CPUs other processes used meanwhile
}

// load checks that addr serves app, warms it up, then measures it. pids
// returns the server's processes, for its CPU time.
func (e *env) load(ctx context.Context, addr, app string, t *tlsFiles, pids func() []int) (measurement, error) {
	if err := checkResponse(ctx, addr, app, t); err != nil {
		return measurement{}, err
	}
	if _, err := e.wrk.run(ctx, t.url(addr), e.warmup); err != nil {
		return measurement{}, fmt.Errorf("warm-up: %w", err)
	}
	before, err := takeSnap(pids())
	if err != nil {
		return measurement{}, err
	}
	res, err := e.wrk.run(ctx, t.url(addr), e.duration)
	if err != nil {
		return measurement{}, err
	}
	after, err := takeSnap(pids())
	if err != nil {
		return measurement{}, err
	}
	if res.Requests == 0 {
		return measurement{}, errors.New("wrk completed no request")
	}
	return measurement{wrkResult: res, cores: serverCores(before, after), other: otherShare(before, after)}, nil
}

// idle waits idleBeforeRSS, so that RSS is read from a server at rest.
func idle(ctx context.Context) error {
	select {
	case <-time.After(idleBeforeRSS):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-core: "+format+"\n", args...)
}

// loadAverage returns the first three fields of /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	var a, b5, c string
	if n, _ := fmt.Sscan(string(b), &a, &b5, &c); n != 3 {
		return "?"
	}
	return a + " " + b5 + " " + c
}
