// Command scale is `make bench-scale`: a bursty load against a dynamic
// fleet (workers_min..workers_max) and against fixed fleets of the minimum
// and of the maximum size, reporting each fleet's p99 in every burst, its
// scaling steps, and its memory once idle:
//
//	go run ./internal/bench/scale -bursts 4 -burst 3s -idle 3s
//
// The app is a WSGI callable that sleeps -sleep per request, in one app
// process with one thread per worker, so a worker answers one request at a
// time and the fleet's size is what the load needs (for an async Go app
// one worker takes any burst and there is nothing to scale). Each burst is
// a wrk run with -connections connections; between bursts the load stops
// for -idle. After the last burst the benchmark waits until the dynamic
// fleet is back at workers_min (scale_down_after = -scale-down-after), and
// sums the resident memory of the master, its workers and their Python
// processes: the idle RSS. Fixed fleets are measured the same way, after
// their bursts. Exit status 1 when the harness broke (a build, a server
// that did not start, wrk missing).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/freeport"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

var (
	arbiterBin     = flag.String("arbiter", "", "the arbiter binary (default: ./cmd/arbiter built into a temp dir)")
	wrkBin         = flag.String("wrk", "wrk", "the wrk binary")
	python         = flag.String("python", "/usr/bin/python3", "the Python interpreter for the WSGI app")
	bursts         = flag.Int("bursts", 4, "bursts of load per fleet")
	burst          = flag.Duration("burst", 3*time.Second, "length of a burst")
	idle           = flag.Duration("idle", 3*time.Second, "pause between bursts")
	connections    = flag.Int("connections", 16, "wrk connections during a burst")
	sleep          = flag.Duration("sleep", 20*time.Millisecond, "the app's time per request")
	minWorkers     = flag.Int("min", 1, "workers_min, and the small fixed fleet")
	maxWorkers     = flag.Int("max", 4, "workers_max, and the large fixed fleet")
	scaleDownAfter = flag.Duration("scale-down-after", 5*time.Second, "the dynamic fleet's scale_down_after")
	verbose        = flag.Bool("v", false, "print each burst's numbers to stderr")
)

const app = `import time

def application(environ, start_response):
    time.sleep(%g)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
`

type row struct {
	name       string
	p99s       []time.Duration
	requests   int64
	errors     int64
	idleRSS    int64
	workersAt  int // workers when idle
	ups, downs int // the dynamic fleet's scaling decisions
	peak       int // its largest worker count
}

func main() {
	flag.Parse()
	benchkit.Main(run)
}

func run(ctx context.Context) int {
	dir, err := os.MkdirTemp("", "bench-scale-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := benchkit.ArbiterBinary(ctx, *arbiterBin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "slow.py"), []byte(fmt.Sprintf(app, sleep.Seconds())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fleets := []struct{ name, keys string }{
		{fmt.Sprintf("fixed %d", *minWorkers), fmt.Sprintf("workers = %d", *minWorkers)},
		{fmt.Sprintf("fixed %d", *maxWorkers), fmt.Sprintf("workers = %d", *maxWorkers)},
		{fmt.Sprintf("dynamic %d..%d", *minWorkers, *maxWorkers), fmt.Sprintf("workers_min = %d\nworkers_max = %d\nscale_down_after = %q",
			*minWorkers, *maxWorkers, scaleDownAfter.String())},
	}
	var rows []row
	for i, f := range fleets {
		r, err := measure(ctx, bin, filepath.Join(dir, fmt.Sprint(i)), dir, f.name, f.keys, i == 2)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f.name, err)
			return 1
		}
		rows = append(rows, r)
	}
	fmt.Printf("bursty load: %d bursts of %s with %d connections, %s idle between; the app sleeps %s per request, one at a time per worker\n\n",
		*bursts, *burst, *connections, *idle, *sleep)
	fmt.Printf("%-14s  %-40s %9s %7s %21s  %s\n", "fleet", "p99 of each burst", "requests", "errors", "idle RSS", "scaling")
	for _, r := range rows {
		var p99s []string
		for _, d := range r.p99s {
			p99s = append(p99s, benchkit.FmtDur(d))
		}
		scaling := "-"
		if r.ups+r.downs > 0 {
			scaling = fmt.Sprintf("%d up (peak %d workers), %d down", r.ups, r.peak, r.downs)
		}
		fmt.Printf("%-14s  %-40s %9d %7d %8.1f MiB (%d workers)  %s\n", r.name, strings.Join(p99s, " "),
			r.requests, r.errors, float64(r.idleRSS)/(1<<20), r.workersAt, scaling)
	}
	return 0
}

// measure runs the bursts against one fleet and reads its idle RSS.
func measure(ctx context.Context, bin, dir, appDir, name, keys string, dynamic bool) (row, error) {
	r := row{name: name}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return r, err
	}
	addr, err := freeport.Addr()
	if err != nil {
		return r, err
	}
	cfg := fmt.Sprintf(`%s
control_socket = ""
graceful_timeout = "5s"
log.level = "info"
[[listen]]
address = %q
[app]
type = "wsgi"
module = "slow:application"
pythonpath = [%q]
python = %q
processes = 1
threads = 1
`, keys, addr, appDir, *python)
	a, err := benchkit.StartArbiter(bin, dir, cfg, "", addr)
	if err != nil {
		return r, err
	}
	defer a.Stop()
	for i := range *bursts {
		if i > 0 {
			select {
			case <-time.After(*idle):
			case <-ctx.Done():
				return r, ctx.Err()
			}
		}
		res, out, err := benchkit.RunWrk(ctx, *wrkBin, "http://"+addr+"/", 2, *connections, *burst)
		if err != nil {
			return r, fmt.Errorf("%w\n%s", err, out)
		}
		r.p99s = append(r.p99s, res.P99)
		if *verbose {
			fmt.Fprintf(os.Stderr, "%s burst %d: p99 %s, %d requests, %d workers\n", name, i+1, benchkit.FmtDur(res.P99), res.Requests,
				len(procfs.Children(a.PGID)))
		}
		r.requests += res.Requests
		r.errors += res.Errors
	}
	if dynamic {
		// Back at the minimum: the last "scale down" names it.
		if _, ok := a.Log.Wait(0, *scaleDownAfter*time.Duration(*maxWorkers+2), func(l benchkit.LogLine) bool {
			return l.Msg == "scale down" && l.Int("workers") == *minWorkers
		}); !ok {
			return r, fmt.Errorf("the dynamic fleet did not scale down to %d", *minWorkers)
		}
	}
	for _, l := range a.Log.Snapshot() {
		switch l.Msg {
		case "scale up":
			r.ups++
			r.peak = max(r.peak, l.Int("workers"))
		case "scale down":
			r.downs++
		}
	}
	// The retired workers exit once drained.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if n := len(procfs.Children(a.PGID)); n == *minWorkers || !dynamic && n > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.workersAt = len(procfs.Children(a.PGID))
	for _, pid := range procfs.Group(a.PGID) {
		r.idleRSS += procfs.RSS(pid)
	}
	return r, a.Stop()
}
