// Command nginx is `make bench-nginx`: the same handler (worker/app/echo)
// behind a real nginx, over every protocol arbiter speaks and over the
// standard library's net/http/fcgi, each loaded with wrk in turn:
//
//	go run ./internal/bench/nginx -duration 10s
//
// arbiter (-arbiter, else ./cmd/arbiter built into a temporary directory,
// without -race) runs 2 workers with a FastCGI, an SCGI, a uwsgi and an HTTP
// listener; the baseline (./fcgibaseline) is one process with the default
// GOMAXPROCS; nginx runs one worker process. Each row is measured once with
// `wrk -t2 -c32 --latency` for the given duration, after a check that the
// row reaches the server it names. The table gives req/s, the 99th
// percentile latency and errors (socket errors and non-2xx answers), then
// the ratios issue 3 sets targets for. Missing a target is reported, not an
// error; a row that cannot run makes the exit status 1. Without wrk or nginx
// it says how to install them and exits with 2.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

type options struct {
	duration     time.Duration
	threads      int
	conns        int
	workers      int
	nginxWorkers int
	arbiter      string
	only         string
	keep         bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "wrk run time per row")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	flag.IntVar(&o.conns, "connections", 32, "wrk connections (-c)")
	flag.IntVar(&o.workers, "workers", 2, "arbiter workers")
	flag.IntVar(&o.nginxWorkers, "nginx-workers", 1, "nginx worker processes")
	flag.StringVar(&o.arbiter, "arbiter", "", "arbiter binary (default: ./cmd/arbiter built into a temp dir)")
	flag.StringVar(&o.only, "rows", "", "regular expression: run only the rows it matches")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs and logs)")
	flag.Parse()
	benchkit.Main(func(ctx context.Context) int { return run(ctx, o, os.Stdout) })
}

func run(ctx context.Context, o options, out io.Writer) int {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-nginx needs wrk (https://github.com/wg/wrk): apt-get install wrk")
		return 2
	}
	if _, err := nginxtest.Binary(); err != nil {
		fmt.Fprintf(os.Stderr, "bench-nginx needs nginx: %v\n", err)
		return 2
	}
	var filter *regexp.Regexp
	if o.only != "" {
		if filter, err = regexp.Compile(o.only); err != nil {
			fmt.Fprintf(os.Stderr, "-rows: %v\n", err)
			return 2
		}
	}
	b, err := setUp(ctx, o)
	if b != nil {
		defer b.tearDown()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-nginx: %v\n", err)
		return 1
	}

	fmt.Fprintf(out, "bench-nginx: the same handler (worker/app/echo, GET /ROW/echo) behind nginx, one row at a time\n")
	fmt.Fprintf(out, "  %s, %d worker process(es); wrk -t%d -c%d -d%v --latency; %d CPUs\n",
		nginxtest.Version(), o.nginxWorkers, o.threads, o.conns, o.duration, runtime.NumCPU())
	fmt.Fprintf(out, "  arbiter: %s, %d workers; net/http/fcgi baseline: one process, GOMAXPROCS default (%d)\n\n",
		b.arbiterBin, o.workers, runtime.NumCPU())

	status := 0
	var ran []*row
	for _, r := range b.rows {
		if filter != nil && !filter.MatchString(r.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		ran = append(ran, r)
		if r.err = b.check(r); r.err == nil {
			var raw string
			r.result, raw, r.err = benchkit.RunWrk(ctx, wrk, b.ng.URL("/"+r.name+"/echo"), o.threads, o.conns, o.duration)
			if r.err != nil {
				r.err = fmt.Errorf("%w\n%s", r.err, raw)
			}
		}
		if r.err != nil {
			status = 1
			fmt.Fprintf(os.Stderr, "%s: %v\n", r.name, r.err)
		}
	}
	printTable(out, ran)
	if errs := b.ng.Errors(); len(errs) > 0 {
		fmt.Fprintf(out, "\nnginx logged %d error lines; the first:\n  %s\n", len(errs), errs[0])
	}
	if o.keep {
		fmt.Fprintf(out, "\nconfigs and logs kept in %s\n", b.dir)
	}
	return status
}

// bench is the running set-up: arbiter, the baseline and nginx.
type bench struct {
	dir        string
	keep       bool
	arbiterBin string
	arbiter    *benchkit.Server
	baseline   *benchkit.Server
	basePID    int
	ng         *nginxtest.Nginx
	rows       []*row
}

func setUp(ctx context.Context, o options) (*bench, error) {
	dir, err := os.MkdirTemp("", "arbiter-bench-nginx-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, keep: o.keep}
	root, err := benchkit.ModuleRoot()
	if err != nil {
		return b, err
	}
	if b.arbiterBin, err = benchkit.ArbiterBinary(ctx, o.arbiter, dir); err != nil {
		return b, err
	}
	baseBin, err := benchkit.GoBuild(ctx, root, dir, "./internal/bench/nginx/fcgibaseline")
	if err != nil {
		return b, err
	}

	addrs := map[string]string{}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "workers = %d\n[log]\nlevel = \"warn\"\n", o.workers)
	for _, p := range []string{"fastcgi", "scgi", "uwsgi", "http"} {
		if addrs[p], err = nginxtest.FreeAddr(); err != nil {
			return b, err
		}
		fmt.Fprintf(&cfg, "[[listen]]\naddress = %q\nprotocol = %q\n", addrs[p], p)
	}
	cfgPath := filepath.Join(dir, "app.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		return b, err
	}
	ready := []string{addrs["fastcgi"], addrs["scgi"], addrs["uwsgi"], addrs["http"]}
	if b.arbiter, err = benchkit.StartServer("arbiter", b.arbiterBin, []string{"run", cfgPath}, nil, filepath.Join(dir, "arbiter.log"), ready...); err != nil {
		return b, err
	}
	baseAddr, err := nginxtest.FreeAddr()
	if err != nil {
		return b, err
	}
	if b.baseline, err = benchkit.StartServer("fcgibaseline", baseBin, []string{"-addr", baseAddr}, nil, filepath.Join(dir, "fcgibaseline.log"), baseAddr); err != nil {
		return b, err
	}
	b.basePID = b.baseline.Pid()

	b.rows = benchRows()
	var httpBlock, server strings.Builder
	for _, r := range b.rows {
		target := addrs[r.listener]
		if r.server == "baseline" {
			target = baseAddr
		}
		up := target
		if r.reuse {
			up = strings.ReplaceAll(r.name, "-", "_")
			fmt.Fprintf(&httpBlock, "upstream %s {\n    server %s;\n    keepalive 64;\n}\n", up, target)
		}
		fmt.Fprintf(&server, "location /%s/ {%s\n}\n", r.name, strings.ReplaceAll(r.location, "{{up}}", up))
	}
	ngDir := filepath.Join(dir, "nginx")
	if err := os.Mkdir(ngDir, 0o755); err != nil {
		return b, err
	}
	b.ng, err = nginxtest.Launch(ngDir, nginxtest.Config{
		HTTP: httpBlock.String(), Server: server.String(), ErrorLogLevel: "error",
		MasterProcess: true, WorkerProcesses: o.nginxWorkers,
	})
	return b, err
}

// benchRows lists the rows, related ones next to each other.
func benchRows() []*row {
	const fcgi = `
    include /etc/nginx/fastcgi_params;
    fastcgi_pass {{up}};`
	const fcgiKeep = `
    include /etc/nginx/fastcgi_params;
    fastcgi_keep_conn on;
    fastcgi_pass {{up}};`
	return []*row{
		{name: "arbiter-http-keepalive", server: "arbiter", listener: "http", reuse: true, location: `
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass http://{{up}};`},
		{name: "arbiter-fastcgi-keepconn", server: "arbiter", listener: "fastcgi", reuse: true, location: fcgiKeep},
		{name: "nethttp-fcgi-keepconn", server: "baseline", listener: "fastcgi", reuse: true, location: fcgiKeep},
		{name: "arbiter-http", server: "arbiter", listener: "http", location: `
    proxy_pass http://{{up}};`},
		{name: "arbiter-fastcgi", server: "arbiter", listener: "fastcgi", location: fcgi},
		{name: "nethttp-fcgi", server: "baseline", listener: "fastcgi", location: fcgi},
		{name: "arbiter-scgi", server: "arbiter", listener: "scgi", location: `
    include /etc/nginx/scgi_params;
    scgi_pass {{up}};`},
		{name: "arbiter-uwsgi", server: "arbiter", listener: "uwsgi", location: `
    include /etc/nginx/uwsgi_params;
    uwsgi_pass {{up}};`},
	}
}

// check sends a few requests through the row and verifies that they reach
// the server the row names, over its protocol.
func (b *bench) check(r *row) error {
	c := &http.Client{Timeout: 10 * time.Second}
	for i := range 20 {
		resp, err := c.Get(b.ng.URL("/" + r.name + "/echo"))
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("check request %d: %d %s %v", i, resp.StatusCode, body, err)
		}
		var rep echo.Reply
		if err := json.Unmarshal(body, &rep); err != nil {
			return fmt.Errorf("check: %w: %s", err, body)
		}
		switch {
		case r.server == "baseline" && rep.PID != b.basePID:
			return fmt.Errorf("check: answered by pid %d, not the baseline %d", rep.PID, b.basePID)
		case r.server == "arbiter" && rep.Protocol != r.listener:
			return fmt.Errorf("check: arbiter answered over %q, want %q", rep.Protocol, r.listener)
		}
	}
	return nil
}

func (b *bench) tearDown() {
	if b.ng != nil {
		if err := b.ng.Stop(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "bench-nginx: %v\n", err)
		}
	}
	if b.baseline != nil {
		b.baseline.Stop(syscall.SIGTERM, false, 15*time.Second)
	}
	if b.arbiter != nil {
		b.arbiter.Stop(syscall.SIGTERM, false, 15*time.Second)
	}
	if !b.keep {
		os.RemoveAll(b.dir)
	}
}
