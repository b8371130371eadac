// Command wsgi is `make bench-wsgi`: arbiter's wsgi app against gunicorn
// and uWSGI, the same WSGI apps and the same number of Python processes,
// every row in one run:
//
//	go run ./internal/bench/wsgi -duration 10s -rounds 3
//
// Two apps, each run in turn by every server: testdata/hello.py (a fixed
// body) and worker/app/wsgi/testdata/apps/flaskapp.py's /hello/<name> (a
// Flask route answering JSON). Every server runs -processes Python
// processes of -app-threads threads each (gunicorn sync: 1 thread):
//
//   - arbiter (-arbiter, else ./cmd/arbiter built without -race):
//     workers = 1, [app] type = "wsgi" with processes and threads; an HTTP
//     listener, and uwsgi and FastCGI listeners on unix sockets for nginx;
//   - gunicorn (Debian's, /usr/bin/gunicorn) -k gthread and -k sync;
//   - uWSGI (uwsgi-plugin-python3) --master, three instances: with
//     --http-socket (no keep-alive), with --http11-socket (keep-alive), and
//     with --socket alone for nginx's uwsgi_pass (a uWSGI with a second
//     socket serializes its threads' accepts, and serves half as much);
//   - a reference, internal/bench/wsgi/minfront: the least a Go HTTP front
//     can do per request in front of arbiter's own Python runner, the same
//     processes and threads. What arbiter costs beyond it is arbiter's own
//     work; its ratios to gunicorn and uWSGI are about the most the design
//     (a Go process in front of Python processes) can show on the machine.
//
// nginx (one worker process) passes requests over uwsgi to arbiter and to
// uWSGI, and over FastCGI with keep-conn to arbiter. One server runs at a
// time. Each row gets a check (the answers come from the server's own
// processes), a warm-up and a measured `wrk -t2 -c50 --latency` run. With
// the hello app, arbiter's and gunicorn sync's HTTP rows are measured a
// second time while -slow-clients connections each send a request a byte
// a second and read a byte a second (reconnecting when the server closes
// them). With -rounds N every server is started N times, in turn, and each
// row reports its median run: other work on a shared machine slows single
// runs by far more than the differences measured.
//
// The report gives req/s, p99, errors, the CPU time per request of the
// server's processes (split into the app processes, the server's other
// processes and nginx), the share of the machine's CPU other processes
// took meanwhile, each server's idle RSS after its rows (first round), and
// the ratios of issue 13 with met or MISSED (of the medians; with -rounds,
// each round's own ratio follows). Missing a target is not an
// error; a row that cannot run makes the exit status 1. Without wrk,
// nginx, gunicorn, uWSGI or Flask it says what to install and exits with
// 2.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
)

type options struct {
	duration, warmup     time.Duration
	threads, conns       int
	processes            int
	appThreads           int
	slowClients          int
	nginxWorkers         int
	rounds               int
	arbiter, python      string
	gunicorn, uwsgi, wrk string
	rows                 *regexp.Regexp // nil: every row
	keep                 bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured wrk run per row")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up wrk run per row (not measured)")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	flag.IntVar(&o.conns, "connections", 50, "wrk connections (-c)")
	flag.IntVar(&o.processes, "processes", 2, "Python processes of every server")
	flag.IntVar(&o.appThreads, "app-threads", 4, "threads per Python process (arbiter, gunicorn gthread, uWSGI)")
	flag.IntVar(&o.slowClients, "slow-clients", 1000, "slow connections in the slow-client rows (0: no such rows)")
	flag.IntVar(&o.nginxWorkers, "nginx-workers", 1, "nginx worker processes")
	flag.IntVar(&o.rounds, "rounds", 1, "measure every row this many times, the servers in turn, and report the median run (by req/s)")
	flag.StringVar(&o.arbiter, "arbiter", "", "arbiter binary (default: ./cmd/arbiter built into a temp dir)")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "arbiter's python (the one gunicorn and uWSGI's plugin use)")
	flag.StringVar(&o.gunicorn, "gunicorn", "/usr/bin/gunicorn", "gunicorn")
	flag.StringVar(&o.uwsgi, "uwsgi", "uwsgi", "uWSGI")
	rows := flag.String("rows", "", "regular expression: run only the rows (app/name) it matches")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (apps, configs, logs)")
	flag.Parse()
	var err error
	if *rows != "" {
		o.rows, err = regexp.Compile(*rows)
	}
	if err != nil || flag.NArg() > 0 || o.duration < time.Second || o.rounds < 1 {
		fmt.Fprintf(os.Stderr, "bench-wsgi: bad flags (%v); see -help\n", err)
		os.Exit(2)
	}
	benchkit.Main(func(ctx context.Context) int { return run(ctx, o, os.Stdout) })
}

// bench is the run's state: the directory, nginx, and what was measured.
type bench struct {
	o          options
	dir        string
	appDir     string // both apps, every server's working directory
	arbiterBin string
	minBin     string // internal/bench/wsgi/minfront
	runner     string // worker/app/wsgi/runner/arbiter_wsgi.py, which minfront starts
	ng         *nginxtest.Nginx
	ngAddr     map[string]string // row name -> nginx's port for it
	rss        []procRSS
}

func run(ctx context.Context, o options, out io.Writer) int {
	if err := prerequisites(&o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-wsgi: %v\n", err)
		return 2
	}
	b, err := setUp(ctx, o)
	if b != nil {
		defer b.tearDown()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-wsgi: %v\n", err)
		return 1
	}
	fmt.Fprintf(out, "bench-wsgi: the same WSGI apps under arbiter, gunicorn and uWSGI, one server at a time; %d CPUs\n", runtime.NumCPU())
	fmt.Fprintf(out, "  every server: %d Python processes x %d threads (gunicorn sync: x 1); arbiter workers = 1, worker_connections = %d; %s\n",
		o.processes, o.appThreads, arbiterConns(o), o.python)
	fmt.Fprintf(out, "  wrk -t%d -c%d --latency: %v warm-up, %v measured; %d round(s), each starting every server in turn; %s, %d worker process(es)\n",
		o.threads, o.conns, o.warmup, o.duration, o.rounds, nginxtest.Version(), o.nginxWorkers)
	if o.slowClients > 0 {
		fmt.Fprintf(out, "  slow clients: %d connections, each sending a %d-byte request a byte a second and reading a byte a second\n",
			o.slowClients, len(slowRequest))
	}
	fmt.Fprintln(out)

	type plan struct {
		app  appSpec
		s    *setup
		rows []*row
	}
	var plans []plan
	var ran []*row
	for _, app := range apps {
		setups, err := b.setups(app)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-wsgi: %v\n", err)
			return 1
		}
		for _, s := range setups {
			p := plan{app: app, s: s}
			for _, r := range s.rows {
				if o.rows == nil || o.rows.MatchString(r.key()) {
					p.rows = append(p.rows, r)
				}
			}
			if len(p.rows) > 0 {
				plans = append(plans, p)
				ran = append(ran, p.rows...)
			}
		}
	}
	status := 0
	for round := range o.rounds {
		for _, p := range plans {
			if ctx.Err() == nil && b.serve(ctx, p.app, p.s, p.rows, round == 0) != nil {
				status = 1
			}
		}
	}
	for _, r := range ran {
		r.pick()
	}
	printRows(out, ran)
	fmt.Fprintf(out, "cpu/req: CPU time of the server's processes, and nginx's in the nginx rows, per request (/proc/PID/stat)\n"+
		"other: the share of all CPUs' time that went to processes other than the server, nginx, wrk and this program;\n"+
		"  steal: the part of it the hypervisor gave to other guests (a round with much of it ran on a slower machine)\n\n")
	if o.rounds > 1 {
		printRounds(out, ran)
	}
	printRatios(out, ran)
	fmt.Fprintln(out)
	printRSS(out, b.rss)
	if errs := b.ng.Errors(); len(errs) > 0 {
		fmt.Fprintf(out, "\nnginx logged %d error lines; the first:\n  %s\n", len(errs), errs[0])
	}
	if o.keep {
		fmt.Fprintf(out, "\napps, configs and logs kept in %s\n", b.dir)
	}
	if ctx.Err() != nil {
		return 130
	}
	return status
}

// prerequisites finds the programs the rows need.
func prerequisites(o *options) error {
	var err error
	if o.wrk, err = exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("needs wrk: apt-get install wrk")
	}
	if _, err := nginxtest.Binary(); err != nil {
		return fmt.Errorf("needs nginx: %w", err)
	}
	if o.gunicorn, err = exec.LookPath(o.gunicorn); err != nil {
		return fmt.Errorf("needs gunicorn: apt-get install gunicorn")
	}
	if o.uwsgi, err = exec.LookPath(o.uwsgi); err != nil || !benchkit.IsFile("/usr/lib/uwsgi/plugins/python3_plugin.so") {
		return fmt.Errorf("needs uWSGI and its Python 3 plugin: apt-get install uwsgi-core uwsgi-plugin-python3")
	}
	if out, err := exec.Command(o.python, "-c", "import flask").CombinedOutput(); err != nil {
		return fmt.Errorf("needs Flask in %s: apt-get install python3-flask (%v: %s)", o.python, err, out)
	}
	return nil
}

// setUp copies the apps into a temporary directory and starts nginx.
func setUp(ctx context.Context, o options) (*bench, error) {
	dir, err := os.MkdirTemp("", "arbiter-bench-wsgi-")
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, dir: dir, appDir: filepath.Join(dir, "app"), ngAddr: map[string]string{}}
	root, err := benchkit.ModuleRoot()
	if err != nil {
		return b, err
	}
	for _, d := range []string{b.appDir, filepath.Join(dir, "run"), filepath.Join(dir, "nginx")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return b, err
		}
	}
	for _, src := range []string{"internal/bench/wsgi/testdata/hello.py", "worker/app/wsgi/testdata/apps/flaskapp.py"} {
		data, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			return b, err
		}
		if err := os.WriteFile(filepath.Join(b.appDir, filepath.Base(src)), data, 0o644); err != nil {
			return b, err
		}
	}
	if b.arbiterBin, err = benchkit.ArbiterBinary(ctx, o.arbiter, dir); err != nil {
		return b, err
	}
	if b.minBin, err = benchkit.GoBuild(ctx, root, dir, "./internal/bench/wsgi/minfront"); err != nil {
		return b, err
	}
	b.runner = filepath.Join(root, "worker/app/wsgi/runner/arbiter_wsgi.py")
	httpBlock, err := b.nginxConfig()
	if err != nil {
		return b, err
	}
	b.ng, err = nginxtest.Launch(filepath.Join(dir, "nginx"), nginxtest.Config{
		HTTP: httpBlock, ErrorLogLevel: "error", MasterProcess: true, WorkerProcesses: o.nginxWorkers,
	})
	return b, err
}

// serve starts s, measures rows against it (each once; a row that failed
// before is skipped), reads its idle RSS if rss, and stops it. A row that
// fails is reported on stderr and in its table line; the error returned
// says that something failed.
func (b *bench) serve(ctx context.Context, app appSpec, s *setup, rows []*row, rss bool) error {
	logPath := filepath.Join(b.dir, app.name+"-"+s.server+".log")
	env := []string{"PATH=" + os.Getenv("PATH")}
	srv, err := benchkit.StartServer(s.server, s.bin, s.args, env, logPath, s.ready...)
	if err != nil {
		for _, r := range rows {
			r.err = err
		}
		fmt.Fprintf(os.Stderr, "%s/%s: %v\n", app.name, s.server, err)
		return err
	}
	defer srv.Stop(syscall.SIGTERM, true, 15*time.Second)
	var failed error
	for _, r := range rows {
		if ctx.Err() != nil || r.err != nil {
			continue
		}
		m, err := b.measure(ctx, r, srv.Pid())
		if err != nil {
			r.err, failed = err, err
			fmt.Fprintf(os.Stderr, "%s: %v\n", r.key(), err)
			continue
		}
		r.runs = append(r.runs, m)
	}
	if rss && sleep(ctx, time.Second) { // at rest before its memory is read
		b.rss = append(b.rss, idleRSS(app.name, s.server, srv.Pid(), b.arbiterBin))
	}
	return failed
}

// measure checks r, runs its warm-up and its measured run (with the slow
// clients, for a slow row), and returns what the measured run gave.
func (b *bench) measure(ctx context.Context, r *row, pgid int) (m sample, err error) {
	if err := check(r, pgid); err != nil {
		return m, err
	}
	if r.slow {
		pool := startSlow(ctx, r.addr, b.o.slowClients, time.Second)
		defer pool.stop()
		if n := pool.waitOpen(b.o.slowClients, 30*time.Second); n < b.o.slowClients {
			return m, fmt.Errorf("only %d of %d slow clients connected", n, b.o.slowClients)
		}
		// The warm-up runs with the slow clients connected too.
		ended0 := pool.closed.Load()
		m.slowOpen[0] = int(pool.open.Load())
		defer func() { m.slowOpen[1], m.slowEnded = int(pool.open.Load()), pool.closed.Load()-ended0 }()
	}
	if b.o.warmup > 0 {
		if _, raw, err := benchkit.RunWrk(ctx, b.o.wrk, r.url(), b.o.threads, b.o.conns, b.o.warmup); err != nil {
			return m, fmt.Errorf("warm-up: %w\n%s", err, raw)
		}
	}
	ng := 0
	if r.nginx {
		ng = b.ng.PID()
	}
	before := takeSnap(pgid, ng, b.arbiterBin)
	var raw string
	m.res, raw, err = benchkit.RunWrk(ctx, b.o.wrk, r.url(), b.o.threads, b.o.conns, b.o.duration)
	after := takeSnap(pgid, ng, b.arbiterBin)
	if err != nil {
		return m, fmt.Errorf("%w\n%s", err, raw)
	}
	m.cpu, m.other, m.steal = cpuDelta(before, after)
	for _, d := range m.cpu {
		m.res.CPU += d
	}
	return m, nil
}

func (b *bench) tearDown() {
	if b.ng != nil {
		if err := b.ng.Stop(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "bench-wsgi: %v\n", err)
		}
	}
	if !b.o.keep {
		os.RemoveAll(b.dir)
	}
}
