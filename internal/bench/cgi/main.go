// Command cgi is `make bench-cgi`: the same trivial shell CGI script behind
// nginx's fastcgi_pass, served by fcgiwrap and by arbiter in the same run:
//
//	go run ./internal/bench/cgi -duration 10s
//
// The script prints a Content-Type header and one line. nginx (one worker
// process) names it in SCRIPT_FILENAME, the fcgiwrap set-up of docs/cgi.md,
// and passes the request over a unix socket, without keep-conn, to either
//
//   - arbiter (-arbiter, else ./cmd/arbiter built into a temporary
//     directory without -race): 2 workers, a FastCGI listener, [app]
//     type = "cgi" with root = the script's directory; or
//   - fcgiwrap (Debian's package) run as `fcgiwrap -c N -s unix:…`, where
//     N defaults to wrk's connection count: each fcgiwrap process runs one
//     script at a time, so with N = 16 = 2 arbiter workers × 8 it can run
//     as many scripts at once as arbiter is offered.
//
// Each row gets a warm-up run, then a measured run of `wrk --latency` for
// -duration: first both servers at -connections (2 wrk threads), then both
// at concurrency 1, then the script run straight from this process with
// os/exec at concurrency 1 and at -connections (a reference: the script's
// own cost with no nginx, no FastCGI and no gateway; arbiter, which spawns
// with syscall.ForkExec, can come close to it but not pass it, since nginx
// shares the CPUs). With -rounds N the rows are measured N times in turn and
// the median run of each is reported, with arbiter/fcgiwrap of each round
// (the two runs measured one after the other) and the median of those:
// other work on a shared machine slows single runs by several per cent.
//
// It prints req/s, p50, p99, errors and the machine's busy CPU time per
// request for each row; the ratio arbiter/fcgiwrap at -connections against
// the target of 1.2 (PASS or MISS; the exit status is 0 either way); and
// the spawn cost per request: 1/(req/s) at concurrency 1, against the same
// for the bare fork+exec. A row that cannot run makes the exit status 1.
// Without wrk, nginx or fcgiwrap it says how to install them and exits
// with 2.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
)

type options struct {
	duration      time.Duration
	warmup        time.Duration
	threads       int
	conns         int
	workers       int
	fcgiwrapProcs int
	nginxWorkers  int
	arbiter       string
	rounds        int
	keep          bool
}

// result is one load run's measurements (benchkit.Result, with the
// machine's busy CPU time filled in here).
type result = benchkit.Result

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured run time per row")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up run time per row (not measured)")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads (-t) for the concurrent rows")
	flag.IntVar(&o.conns, "connections", 16, "wrk connections (-c) for the concurrent rows")
	flag.IntVar(&o.workers, "workers", 2, "arbiter workers")
	flag.IntVar(&o.fcgiwrapProcs, "fcgiwrap-procs", 0, "fcgiwrap processes (-c); 0: as many as -connections")
	flag.IntVar(&o.nginxWorkers, "nginx-workers", 1, "nginx worker processes")
	flag.StringVar(&o.arbiter, "arbiter", "", "arbiter binary (default: ./cmd/arbiter built into a temp dir)")
	flag.IntVar(&o.rounds, "rounds", 1, "measure every row this many times, in turn, and report the median run (by req/s)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (script, configs, logs)")
	flag.Parse()
	o.rounds = max(1, o.rounds)
	if o.fcgiwrapProcs <= 0 {
		o.fcgiwrapProcs = o.conns
	}
	benchkit.Main(func(ctx context.Context) int { return run(ctx, o, os.Stdout) })
}

// script is the CGI program both servers run: a header, an empty line and
// one line naming its parent (the arbiter worker or fcgiwrap process), so
// that check can tell who ran it. printf is a builtin of dash: one exec.
const script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello from %s\\n' \"$PPID\"\n"

func run(ctx context.Context, o options, out io.Writer) int {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-cgi needs wrk (https://github.com/wg/wrk): apt-get install wrk")
		return 2
	}
	if _, err := nginxtest.Binary(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-cgi needs nginx: %v\n", err)
		return 2
	}
	fw, err := fcgiwrapBinary()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-cgi needs fcgiwrap: %v (Debian/Ubuntu: apt-get install fcgiwrap; it need not be enabled, the benchmark starts its own)\n", err)
		return 2
	}
	b, err := setUp(ctx, o, fw)
	if b != nil {
		defer b.tearDown()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-cgi: %v\n", err)
		return 1
	}

	fmt.Fprintf(out, "bench-cgi: one shell CGI script behind nginx fastcgi_pass (SCRIPT_FILENAME, unix socket, no keep-conn)\n")
	fmt.Fprintf(out, "  script: %s", indentScript(script))
	fmt.Fprintf(out, "  %s, %d worker process(es); %d CPUs\n", nginxtest.Version(), o.nginxWorkers, runtime.NumCPU())
	fmt.Fprintf(out, "  each row: %v warm-up, then %v measured; %d round(s), rows in turn", o.warmup, o.duration, o.rounds)
	if o.rounds > 1 {
		fmt.Fprintf(out, "; the median run of each row is shown")
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  arbiter: %s, %d workers, FastCGI listener, [app] type=\"cgi\" root=<script dir> (max_scripts 64 per worker)\n",
		b.arbiterBin, o.workers)
	fmt.Fprintf(out, "  fcgiwrap: %s -c %d: %d processes, each running one script at a time (= %d arbiter workers x %g",
		fw, o.fcgiwrapProcs, o.fcgiwrapProcs, o.workers, float64(o.fcgiwrapProcs)/float64(o.workers))
	if o.fcgiwrapProcs == o.conns {
		fmt.Fprintf(out, "; = wrk's %d connections, so neither server queues a request", o.conns)
	}
	fmt.Fprintln(out, ")")
	fmt.Fprintf(out, "  concurrency %d: wrk -t%d -c%d --latency; concurrency 1: wrk -t1 -c1 --latency\n", o.conns, o.threads, o.conns)
	fmt.Fprintf(out, "  minimal Go gateway: internal/bench/cgi/mingateway, one process: FastCGI in, the script run as arbiter runs it, stdout passed through unparsed;\n"+
		"    no limits, checks or logs. What arbiter costs beyond it is arbiter's own work; its ratio to fcgiwrap is about the most a Go gateway reaches here\n")
	fmt.Fprintf(out, "  bare fork+exec: this Go process runs the script with os/exec (clone(CLONE_VFORK) + execve, stdout through a pipe, wait4), no nginx, no FastCGI\n\n")

	rows := []*row{
		{name: rowFcgiwrap, conc: o.conns, path: "/fcgiwrap/cgi-bin/hello.sh"},
		{name: rowArbiter, conc: o.conns, path: "/arbiter/cgi-bin/hello.sh"},
		{name: rowMinimal, conc: o.conns, path: "/mingateway/cgi-bin/hello.sh"},
		{name: rowFcgiwrap, conc: 1, path: "/fcgiwrap/cgi-bin/hello.sh"},
		{name: rowArbiter, conc: 1, path: "/arbiter/cgi-bin/hello.sh"},
		{name: rowBare, conc: 1},
		{name: rowBare, conc: o.conns},
	}
	status := 0
	for round := 0; round < o.rounds && ctx.Err() == nil; round++ {
		for _, r := range rows {
			if ctx.Err() != nil || r.err != nil {
				continue
			}
			res, err := b.measure(ctx, wrk, r, o)
			if err != nil {
				r.err = err
				status = 1
				fmt.Fprintf(os.Stderr, "%s (concurrency %d): %v\n", r.name, r.conc, err)
				continue
			}
			r.runs = append(r.runs, res)
		}
	}
	var ran []*row
	for _, r := range rows {
		if r.err != nil || len(r.runs) > 0 {
			r.pick()
			ran = append(ran, r)
		}
	}
	printTable(out, ran)
	if o.rounds > 1 {
		printRounds(out, ran)
	}
	fmt.Fprintln(out)
	printSummary(out, ran, o.conns)
	if errs := b.ng.Errors(); len(errs) > 0 {
		fmt.Fprintf(out, "\nnginx logged %d error lines; the first:\n  %s\n", len(errs), errs[0])
	}
	if o.keep {
		fmt.Fprintf(out, "\nscript, configs and logs kept in %s\n", b.dir)
	}
	return status
}

// measure checks r (its first time), runs its warm-up and its measured
// run, and returns what the measured run gave.
func (b *bench) measure(ctx context.Context, wrk string, r *row, o options) (result, error) {
	if r.path == "" {
		bareExec(ctx, b.script, r.conc, o.warmup)
		res := bareExec(ctx, b.script, r.conc, o.duration)
		return res, ctx.Err()
	}
	if len(r.runs) == 0 {
		if err := b.check(r); err != nil {
			return result{}, err
		}
	}
	threads := min(o.threads, r.conc)
	if o.warmup > 0 {
		if _, raw, err := benchkit.RunWrk(ctx, wrk, b.ng.URL(r.path), threads, r.conc, o.warmup); err != nil {
			return result{}, fmt.Errorf("warm-up: %w\n%s", err, raw)
		}
	}
	cpu0 := machineCPU()
	res, raw, err := benchkit.RunWrk(ctx, wrk, b.ng.URL(r.path), threads, r.conc, o.duration)
	if err != nil {
		return result{}, fmt.Errorf("%w\n%s", err, raw)
	}
	res.CPU = machineCPU() - cpu0
	return res, nil
}

func indentScript(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n          ") + "\n"
}
