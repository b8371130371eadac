// Command reload is `make bench-reload`: a keep-alive load at high
// concurrency while the server is reloaded, resized and upgraded, counting
// every failed request:
//
//	go run ./internal/bench/reload -duration 60s
//
// It builds arbiter (without -race) into a temporary directory and runs
// these scenarios in turn, each for -duration:
//
//  1. arbiter-http: arbiter's echo app over HTTP, 2 workers;
//  2. arbiter-nginx-fastcgi: the same behind nginx → FastCGI with
//     fastcgi_keep_conn on and an upstream keepalive pool;
//  3. arbiter-nginx-fastcgi-nokeep, arbiter-nginx-scgi,
//     arbiter-nginx-uwsgi: behind nginx's default fastcgi_pass (a
//     connection per request), scgi_pass and uwsgi_pass, where every
//     request is a new connection that a draining worker may have
//     accepted;
//  4. arbiter-wsgi: a WSGI app over HTTP whose file is rewritten before
//     every HUP; a probe checks that each reload brings the new answer;
//  5. gunicorn-gthread: gunicorn 20.1 (Debian's package) with the gthread
//     worker, serving a trivial WSGI app, as the reference.
//
// The load is -connections keep-alive connections, each sending request
// after request over a minimal HTTP/1.1 client of the benchmark's own, so
// that nothing is retried behind its back: connect errors, resets, early
// EOFs, timeouts and non-2xx answers are all counted, and successful
// responses are counted per 100 ms. The requests are POSTs with a small
// body (-method GET to change that): nginx retries a GET on another
// upstream connection when a kept-alive one fails, and would hide the
// failure; it does not retry a POST, as a client's POST must not be
// replayed. Meanwhile the master gets 50 HUP, 20 TTIN/TTOU
// (alternating) and 5 USR2, spread over the run (fewer, in proportion,
// for runs shorter than 60 s; -hup, -ttin-ttou and -usr2 override). After a
// USR2 the benchmark waits for the new master's "promoted" line and signals
// the master named by the pidfile from then on. gunicorn gets the same HUPs
// and TTIN/TTOU but no USR2 (its USR2 needs the operator's WINCH/QUIT).
//
// The report gives, per scenario: total and failed requests by kind, which
// events the failures followed, samples of them, the throughput dip around
// each kind of event next to the dips without events (and the load
// average: other processes on the machine make dips too), and the warnings
// arbiter and nginx logged. With -keep, the temporary directory stays:
// configs, logs, and series.csv per scenario (responses and failures per
// 100 ms, and the events sent in each). The target for arbiter is zero failed
// requests, reported as PASS or MISS; either way the exit status is 0. It
// is 1 when the harness itself broke (a build, a server that does not
// start), and 2 when a scenario was skipped because nginx or gunicorn is
// not installed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "load time per scenario; below 60s the event counts shrink in proportion")
	flag.IntVar(&o.conns, "connections", 64, "keep-alive connections")
	flag.StringVar(&o.method, "method", "POST", "POST (with a small body; nginx does not retry it) or GET (nginx retries it on a failed cached upstream connection)")
	flag.StringVar(&o.arbiter, "arbiter", "", "arbiter binary to test (default: build ./cmd/arbiter into the temporary directory)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "longest time for one request (and for a dial)")
	flag.IntVar(&o.workers, "workers", 2, "arbiter workers")
	flag.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenarios to run (default all: arbiter-http, arbiter-nginx-fastcgi, arbiter-nginx-fastcgi-nokeep, arbiter-nginx-scgi, arbiter-nginx-uwsgi, arbiter-wsgi, gunicorn-gthread)")
	flag.IntVar(&o.hup, "hup", -1, "HUPs per scenario (default: 50, scaled to -duration)")
	flag.IntVar(&o.ttinTTOU, "ttin-ttou", -1, "TTIN and TTOU signals per scenario, alternating (default: 20, scaled)")
	flag.IntVar(&o.usr2, "usr2", -1, "USR2 upgrades per arbiter scenario (default: 5, scaled)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, series.csv)")
	flag.Parse()
	if flag.NArg() > 0 || o.duration < 2*time.Second || o.conns < 1 || o.timeout <= 0 || o.workers < 1 ||
		(o.method != "POST" && o.method != "GET") {
		fmt.Fprintln(os.Stderr, "usage: reload [-duration ≥2s] [-connections N≥1] [-method POST|GET] [-timeout D] [-workers N≥1] [-arbiter BIN] [-scenarios a,b] [-hup N] [-ttin-ttou N] [-usr2 N] [-keep]")
		os.Exit(2)
	}
	benchkit.Main(func(ctx context.Context) int { return run(ctx, o, os.Stdout) })
}

func run(ctx context.Context, o options, out io.Writer) int {
	list, err := selectScenarios(o.scenarios)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-reload: -scenarios: %v\n", err)
		return 2
	}
	dir, err := os.MkdirTemp("", "arbiter-bench-reload-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-reload: %v\n", err)
		return 1
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(out, "configs and logs kept in %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	e := &env{dir: dir, workers: o.workers}
	if e.gunicorn, err = gunicornBinary(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-reload: %v\n", err)
	}
	if _, err := nginxtest.Binary(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-reload: %v\n", err)
	}
	if e.arbiterBin = o.arbiter; e.arbiterBin == "" {
		fmt.Fprintf(os.Stderr, "bench-reload: building arbiter into %s\n", dir)
		root, err := benchkit.ModuleRoot()
		if err == nil {
			e.arbiterBin, err = benchkit.GoBuild(ctx, root, dir, "./cmd/arbiter")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-reload: %v\n", err)
			return 1
		}
	}

	var results []*result
	for _, sc := range list {
		if ctx.Err() != nil {
			break
		}
		results = append(results, runScenario(ctx, o, e, sc, os.Stderr))
	}

	fmt.Fprintf(out, "bench-reload: keep-alive load while the master is signalled; %d CPUs, %s\n", runtime.NumCPU(), versions(e))
	fmt.Fprintf(out, "   arbiter: %s\n", e.arbiterBin)
	fmt.Fprintf(out, "   the target for arbiter is zero failed requests; gunicorn is the reference\n\n")
	status := 0
	for _, r := range results {
		printResult(out, r)
		switch {
		case r.err != nil:
			status = 1
		case r.skipped != "" && status == 0:
			status = 2
		}
	}
	printSummary(out, results)
	return status
}

// versions names the nginx and gunicorn the run used.
func versions(e *env) string {
	s := "nginx missing"
	if _, err := nginxtest.Binary(); err == nil {
		s = nginxtest.Version()
	}
	if e.gunicorn == "" {
		return s + ", gunicorn missing"
	}
	return s + ", " + gunicornVersion(e.gunicorn)
}
