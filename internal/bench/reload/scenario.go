package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// target is a server under test as a scenario started it.
type target interface {
	controller
	addr() string // where the load goes
	// completions fills in event.done from the server's log.
	completions(evs []event, t0 time.Time)
	// notes are report lines about what the server logged from t0 on.
	notes(t0 time.Time) []string
	stop() error
}

// env is what the scenarios share.
type env struct {
	dir        string // the run's temporary directory
	arbiterBin string
	gunicorn   string // "" when missing
	workers    int
}

// scenario is one server set-up under the same load and events.
type scenario struct {
	name    string // for -scenarios
	title   string
	verdict bool // the zero-failure target applies (PASS/MISS)
	usr2    bool // USR2 is part of the events
	explain []string
	start   func(e *env, dir string) (target, error)
}

// nginxRetries is what the nginx scenarios' reports explain.
const nginxRetries = "nginx defaults otherwise (*_next_upstream error timeout): nginx retries a GET whose upstream connection fails, but not a POST; its error log is summarised below"

var scenarios = []*scenario{
	{
		name: "arbiter-http", title: "arbiter over HTTP (echo app)", verdict: true, usr2: true,
		start: startArbiterHTTP,
	},
	{
		name: "arbiter-nginx-fastcgi", title: "arbiter behind nginx → FastCGI, fastcgi_keep_conn on + upstream keepalive 64 (echo app)",
		verdict: true, usr2: true,
		explain: []string{nginxRetries},
		start:   nginxFront("fastcgi", "keepalive 64;", "include /etc/nginx/fastcgi_params;\n    fastcgi_keep_conn on;\n    fastcgi_pass arbiter;"),
	},
	{
		name: "arbiter-nginx-fastcgi-nokeep", title: "arbiter behind nginx → FastCGI, nginx's default: a connection per request (echo app)",
		verdict: true, usr2: true,
		explain: []string{nginxRetries},
		start:   nginxFront("fastcgi", "", "include /etc/nginx/fastcgi_params;\n    fastcgi_pass arbiter;"),
	},
	{
		name: "arbiter-nginx-scgi", title: "arbiter behind nginx → SCGI, a connection per request (echo app)",
		verdict: true, usr2: true,
		explain: []string{nginxRetries},
		start:   nginxFront("scgi", "", "include /etc/nginx/scgi_params;\n    scgi_pass arbiter;"),
	},
	{
		name: "arbiter-nginx-uwsgi", title: "arbiter behind nginx → uwsgi, a connection per request (echo app)",
		verdict: true, usr2: true,
		explain: []string{nginxRetries},
		start:   nginxFront("uwsgi", "", "include /etc/nginx/uwsgi_params;\n    uwsgi_pass arbiter;"),
	},
	{
		name: "arbiter-wsgi", title: "arbiter over HTTP, a WSGI app (2 Python processes × 4 threads per worker) whose file changes before every HUP",
		verdict: true, usr2: true,
		explain: []string{"each HUP must bring the new file's answer: a probe asks for it every 20 ms on a new connection, and a HUP whose version never answers after its generation is ready counts as not taking effect"},
		start:   startArbiterWSGI,
	},
	{
		name: "gunicorn-gthread", title: "gunicorn " + strings.Join(gunicornArgs, " ") + " (trivial WSGI app), the reference",
		explain: []string{whyNoUSR2},
		start:   startGunicornTarget,
	},
}

// selectScenarios returns the scenarios named in the comma-separated list
// (all of them for "").
func selectScenarios(list string) ([]*scenario, error) {
	if list == "" {
		return scenarios, nil
	}
	var out []*scenario
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, sc := range scenarios {
			if sc.name == name {
				out = append(out, sc)
				found = true
			}
		}
		if !found {
			var names []string
			for _, sc := range scenarios {
				names = append(names, sc.name)
			}
			return nil, fmt.Errorf("unknown scenario %q; known: %s", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// arbiterTarget is arbiter with the load sent to its own listener.
type arbiterTarget struct {
	*arbiterProc
	listen string
}

func (t *arbiterTarget) addr() string { return t.listen }

func startArbiterHTTP(e *env, dir string) (target, error) {
	addr, err := nginxtest.FreeAddr()
	if err != nil {
		return nil, err
	}
	a, err := startArbiter(e.arbiterBin, dir, e.workers, addr, "http", "")
	if err != nil {
		return nil, err
	}
	t := &arbiterTarget{arbiterProc: a, listen: addr}
	if err := checkEcho("http://"+addr+"/", "http"); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// nginxTarget is arbiter's listener behind nginx; the load goes to
// nginx.
type nginxTarget struct {
	*arbiterProc
	ng   *nginxtest.Nginx
	mark int64
}

func (t *nginxTarget) addr() string { return t.ng.Addr }

func (t *nginxTarget) notes(t0 time.Time) []string {
	out := t.arbiterProc.notes(t0)
	log := t.ng.ErrorLog()
	lines := nginxtest.LinesAtLeast(log[min(t.mark, int64(len(log))):], "warn")
	type seen struct {
		n     int
		first string
	}
	by := map[string]*seen{}
	var order []string
	for _, l := range lines {
		k := nginxKey(l)
		if by[k] == nil {
			by[k] = &seen{first: l}
			order = append(order, k)
		}
		by[k].n++
	}
	sort.SliceStable(order, func(i, j int) bool { return by[order[i]].n > by[order[j]].n })
	for _, k := range order {
		out = append(out, fmt.Sprintf("nginx error log, %d× %s (first: %s)", by[k].n, k, benchkit.Clip(by[k].first, 400)))
	}
	if len(lines) == 0 {
		out = append(out, "nginx error log: no line at warn level or worse during the load")
	}
	return out
}

// nginxKey reduces an nginx error log line to its level and message, for
// counting: "2026/01/02 03:04:05 [error] 12#12: *345 upstream prematurely
// closed connection while reading response header from upstream, client: …"
// becomes "[error] upstream prematurely closed connection while reading
// response header from upstream".
var nginxPrefix = regexp.MustCompile(`^\S+ \S+ (\[\w+\]) \d+#\d+: (\*\d+ )?`)

func nginxKey(line string) string {
	m := nginxPrefix.FindStringSubmatchIndex(line)
	if m == nil {
		return benchkit.Clip(line, 120)
	}
	level := line[m[2]:m[3]]
	msg := line[m[1]:]
	if i := strings.Index(msg, ", client:"); i >= 0 {
		msg = msg[:i]
	}
	return level + " " + msg
}

func (t *nginxTarget) stop() error {
	nerr := t.ng.Stop(10 * time.Second)
	aerr := t.arbiterProc.stop()
	if nerr != nil {
		return nerr
	}
	return aerr
}

// nginxFront returns a scenario start: arbiter listening with protocol
// behind nginx, whose upstream block holds the arbiter server plus upstream
// (keepalive, say) and whose location is location.
func nginxFront(protocol, upstream, location string) func(e *env, dir string) (target, error) {
	return func(e *env, dir string) (target, error) {
		if _, err := nginxtest.Binary(); err != nil {
			return nil, err
		}
		addr, err := nginxtest.FreeAddr()
		if err != nil {
			return nil, err
		}
		a, err := startArbiter(e.arbiterBin, dir, e.workers, addr, protocol, "")
		if err != nil {
			return nil, err
		}
		ngDir := filepath.Join(dir, "nginx")
		if err := os.Mkdir(ngDir, 0o755); err != nil {
			a.stop()
			return nil, err
		}
		ng, err := nginxtest.Launch(ngDir, nginxtest.Config{
			HTTP:   fmt.Sprintf("upstream arbiter {\n    server %s;\n    %s\n}\n", addr, upstream),
			Server: "location / {\n    " + location + "\n}\n",
			// warn: "upstream prematurely closed", refused connections and
			// retries ("upstream server temporarily disabled") are all there.
			ErrorLogLevel: "warn", MasterProcess: true, WorkerProcesses: 1,
		})
		if err != nil {
			a.stop()
			return nil, fmt.Errorf("nginx: %w", err)
		}
		t := &nginxTarget{arbiterProc: a, ng: ng}
		if err := checkEcho(ng.URL("/"), protocol); err != nil {
			t.stop()
			return nil, err
		}
		t.mark = ng.Mark()
		return t, nil
	}
}

// gunicornTarget is gunicorn serving the WSGI app.
type gunicornTarget struct {
	*gunicornProc
	listen string
}

func (t *gunicornTarget) addr() string                   { return t.listen }
func (t *gunicornTarget) completions([]event, time.Time) {}
func (t *gunicornTarget) notes(time.Time) []string       { return t.gunicornProc.notes() }

func startGunicornTarget(e *env, dir string) (target, error) {
	if e.gunicorn == "" {
		return nil, fmt.Errorf("%s", gunicornMissing)
	}
	addr, err := nginxtest.FreeAddr()
	if err != nil {
		return nil, err
	}
	g, err := startGunicorn(e.gunicorn, dir, addr)
	if err != nil {
		return nil, err
	}
	return &gunicornTarget{gunicornProc: g, listen: addr}, nil
}

// checkEcho sends a few requests to url and checks that arbiter's echo app
// answers them over the protocol named.
func checkEcho(url, protocol string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	for i := range 5 {
		resp, err := c.Get(url)
		if err != nil {
			return fmt.Errorf("check %s: %w", url, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("check %s, request %d: %d %s %v", url, i, resp.StatusCode, benchkit.Clip(string(body), 200), err)
		}
		var rep echo.Reply
		if err := json.Unmarshal(body, &rep); err != nil {
			return fmt.Errorf("check %s: %w: %s", url, err, benchkit.Clip(string(body), 200))
		}
		if rep.Protocol != protocol {
			return fmt.Errorf("check %s: answered over %q, want %q", url, rep.Protocol, protocol)
		}
	}
	return nil
}

// result is what one scenario measured.
type result struct {
	sc        *scenario
	skipped   string // why it did not run (a tool is missing)
	err       error  // the harness could not run it
	duration  time.Duration
	conns     int
	method    string
	timeout   time.Duration
	counts    counts
	from, to  time.Duration // the window the events were spread over
	ok        int64
	fails     []loadgen.Failure
	buckets   []int64
	events    []event
	unsent    int
	dials     int64
	closes    int64
	notes     []string
	stopError error // processes left behind at the end
	// The 1-minute load average when the load started and ended: other
	// processes competing for the CPUs make dips of their own.
	loadBefore, loadAfter float64
}

// failed is the number of failed requests.
func (r *result) failed() int { return len(r.fails) }

// pass reports whether the zero-failure target was met: no failed request,
// every event sent and taking effect, nothing left behind.
func (r *result) pass() bool {
	if r.failed() > 0 || r.unsent > 0 || r.stopError != nil {
		return false
	}
	for _, ev := range r.events {
		if ev.err != nil {
			return false
		}
	}
	return true
}

// options are the command-line flags.
type options struct {
	duration  time.Duration
	conns     int
	method    string
	timeout   time.Duration
	workers   int
	arbiter   string
	scenarios string
	hup       int
	ttinTTOU  int
	usr2      int
	keep      bool
}

// eventCounts applies the flags to the counts scaled for the duration.
func (o options) eventCounts(usr2 bool) counts {
	c := scaled(o.duration)
	if o.hup >= 0 {
		c.hup = o.hup
	}
	if o.ttinTTOU >= 0 {
		c.ttinTTOU = o.ttinTTOU
	}
	if o.usr2 >= 0 {
		c.usr2 = o.usr2
	}
	if !usr2 {
		c.usr2 = 0
	}
	return c
}

// window returns when the events start and end: after a warm-up of a
// twentieth of the run (0.5–3 s) and a twelfth (1–5 s) before its end, so
// that the last event's effect is measured too.
func window(d time.Duration) (from, to time.Duration) {
	from = min(max(d/20, 500*time.Millisecond), 3*time.Second)
	to = d - min(max(d/12, time.Second), 5*time.Second)
	return from, max(to, from)
}

// runScenario starts the scenario's server, loads it for o.duration while
// sending the events, and stops it.
func runScenario(ctx context.Context, o options, e *env, sc *scenario, log io.Writer) *result {
	r := &result{sc: sc, duration: o.duration, conns: o.conns, method: o.method, timeout: o.timeout, counts: o.eventCounts(sc.usr2)}
	dir := filepath.Join(e.dir, sc.name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		r.err = err
		return r
	}
	t, err := sc.start(e, dir)
	if err != nil {
		if sc.name == "gunicorn-gthread" && e.gunicorn == "" {
			r.skipped = err.Error()
		} else if _, nerr := nginxtest.Binary(); strings.HasPrefix(sc.name, "arbiter-nginx-") && nerr != nil {
			r.skipped = nerr.Error()
		} else if _, perr := os.Stat(wsgiPython); sc.name == "arbiter-wsgi" && perr != nil {
			r.skipped = fmt.Sprintf("%s is missing (apt-get install python3)", wsgiPython)
		} else {
			r.err = err
		}
		return r
	}
	kinds := plan(r.counts)
	r.from, r.to = window(o.duration)
	fmt.Fprintf(log, "bench-reload: %s: %d connections for %v, %s\n", sc.name, o.conns, o.duration, r.counts)
	r.loadBefore = procfs.LoadAverage()
	l := loadgen.Start(ctx, loadgen.Options{Addr: t.addr(), Request: loadgen.Request(o.method, "/bench-reload", "arbiter-bench-reload"),
		Conns: o.conns, Timeout: o.timeout, Duration: o.duration})
	r.events, r.unsent = sendEvents(ctx, t, kinds, l.Since, r.from, r.to, o.duration-500*time.Millisecond, 40*time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(l.Began().Add(o.duration))):
	}
	l.Stop()
	r.loadAfter = procfs.LoadAverage()
	r.ok, r.fails, r.buckets = l.Result(int(o.duration / loadgen.Bucket))
	r.dials, r.closes = l.Dials(), l.Closes()
	t.completions(r.events, l.Began())
	r.notes = t.notes(l.Began())
	r.stopError = t.stop()
	if err := writeSeries(filepath.Join(dir, "series.csv"), r); err != nil {
		fmt.Fprintf(log, "bench-reload: %v\n", err)
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("interrupted")
	}
	return r
}

// writeSeries writes one line per 100 ms bucket: its start (ms), the 2xx
// responses and the failures in it, and the events sent in it.
func writeSeries(path string, r *result) error {
	fails := make([]int, len(r.buckets))
	for _, f := range r.fails {
		if i := int(f.At / loadgen.Bucket); i < len(fails) {
			fails[i]++
		}
	}
	evs := make([][]string, len(r.buckets))
	for _, ev := range r.events {
		if i := int(ev.at / loadgen.Bucket); i < len(evs) {
			evs[i] = append(evs[i], ev.kind)
		}
	}
	var b strings.Builder
	b.WriteString("ms,responses,failures,events\n")
	for i, n := range r.buckets {
		fmt.Fprintf(&b, "%d,%d,%d,%s\n", i*int(loadgen.Bucket/time.Millisecond), n, fails[i], strings.Join(evs[i], " "))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
