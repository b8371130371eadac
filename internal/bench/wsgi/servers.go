package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// appSpec is one of the two apps every server runs.
type appSpec struct {
	name   string // "hello" or "flask"
	module string // WSGI module:callable, in the app directory
	path   string // what wrk requests
}

var apps = []appSpec{
	{"hello", "hello:application", "/"},
	{"flask", "flaskapp:app", "/hello/bench"},
}

// setup is one server running one app, with the rows measured against it
// while it runs.
type setup struct {
	server string // shown in the RSS table
	bin    string
	args   []string
	ready  []string // addresses it must accept on
	rows   []*row
}

// Unix sockets nginx passes requests to; whichever server runs at the time
// listens on them.
const (
	sockArbUwsgi = "arbiter-uwsgi.sock"
	sockArbFcgi  = "arbiter-fastcgi.sock"
	sockUwsgi    = "uwsgi.sock"
	sockMinUwsgi = "minfront-uwsgi.sock"
)

// nginxConfig is an nginx server block per upstream, each on its own port
// (the app sees the path as wrk sent it): uwsgi_pass to arbiter and to
// uWSGI and minfront, fastcgi_pass with keep-conn to arbiter.
func (b *bench) nginxConfig() (string, error) {
	var c strings.Builder
	fmt.Fprintf(&c, "upstream arbiter_fcgi {\n    server unix:%s;\n    keepalive 16;\n}\n", b.sock(sockArbFcgi))
	for _, s := range []struct{ name, location string }{
		{rNginxArbUw, "include /etc/nginx/uwsgi_params;\nuwsgi_pass unix:" + b.sock(sockArbUwsgi) + ";"},
		{rNginxArbFcgi, "include /etc/nginx/fastcgi_params;\nfastcgi_keep_conn on;\nfastcgi_pass arbiter_fcgi;"},
		{rNginxUwsgi, "include /etc/nginx/uwsgi_params;\nuwsgi_pass unix:" + b.sock(sockUwsgi) + ";"},
		{rNginxMinUw, "include /etc/nginx/uwsgi_params;\nuwsgi_pass unix:" + b.sock(sockMinUwsgi) + ";"},
	} {
		addr, err := nginxtest.FreeAddr()
		if err != nil {
			return "", err
		}
		b.ngAddr[s.name] = addr
		fmt.Fprintf(&c, "server {\n    listen %s;\n    location / {\n        %s\n    }\n}\n",
			addr, strings.ReplaceAll(s.location, "\n", "\n        "))
	}
	return c.String(), nil
}

func (b *bench) sock(name string) string { return filepath.Join(b.dir, "run", name) }

// setups lists the servers for app, each with its rows, on fresh ports.
func (b *bench) setups(app appSpec) ([]*setup, error) {
	o := b.o
	procs, threads := strconv.Itoa(o.processes), strconv.Itoa(o.appThreads)
	var addrs [6]string
	for i := range addrs {
		var err error
		if addrs[i], err = nginxtest.FreeAddr(); err != nil {
			return nil, err
		}
	}
	direct := func(name string, addr string, slow bool) *row {
		return &row{app: app.name, name: name, addr: addr, path: app.path, slow: slow}
	}
	viaNginx := func(name string) *row {
		return &row{app: app.name, name: name, addr: b.ngAddr[name], path: app.path, nginx: true}
	}
	withSlow := app.name == "hello" && o.slowClients > 0

	cfg := fmt.Sprintf(`workers = 1
worker_connections = %d

[log]
level = "warn"

[[listen]]
address = %q

[[listen]]
address = "unix:%s"
protocol = "uwsgi"

[[listen]]
address = "unix:%s"
protocol = "fastcgi"

[app]
type = "wsgi"
module = %q
python = %q
processes = %d
threads = %d
workdir = %q
`, arbiterConns(o), addrs[0], b.sock(sockArbUwsgi), b.sock(sockArbFcgi), app.module, o.python, o.processes, o.appThreads, b.appDir)
	cfgPath := filepath.Join(b.dir, "arbiter-"+app.name+".toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	arb := &setup{server: "arbiter", bin: b.arbiterBin, args: []string{"run", cfgPath},
		ready: []string{addrs[0], "unix:" + b.sock(sockArbUwsgi), "unix:" + b.sock(sockArbFcgi)},
		rows:  []*row{direct(rArbiter, addrs[0], false)}}
	if withSlow {
		arb.rows = append(arb.rows, direct(rArbiterSlow, addrs[0], true))
	}
	arb.rows = append(arb.rows, viaNginx(rNginxArbUw), viaNginx(rNginxArbFcgi))

	gunicorn := func(class, threads, addr string) []string {
		return []string{"--workers", procs, "--worker-class", class, "--threads", threads,
			"--bind", addr, "--chdir", b.appDir, "--log-level", "warning", app.module}
	}
	sync := &setup{server: "gunicorn-sync", bin: o.gunicorn, args: gunicorn("sync", "1", addrs[1]),
		ready: []string{addrs[1]}, rows: []*row{direct(rSync, addrs[1], false)}}
	if withSlow {
		sync.rows = append(sync.rows, direct(rSyncSlow, addrs[1], true))
	}

	uwsgi := func(sockets ...string) []string {
		return append(sockets, "--plugin", "python3", "--chdir", b.appDir, "--module", app.module,
			"--processes", procs, "--threads", threads, "--master", "--need-app", "--disable-logging", "--die-on-term")
	}
	return []*setup{
		arb,
		{server: "gunicorn-gthread", bin: o.gunicorn, args: gunicorn("gthread", threads, addrs[2]),
			ready: []string{addrs[2]}, rows: []*row{direct(rGthread, addrs[2], false)}},
		sync,
		// --http-socket answers HTTP/1.1 without keep-alive but without
		// "Connection: close" either, so wrk would count every close as a
		// read error; the header makes wrk reconnect cleanly.
		{server: "uwsgi-http", bin: o.uwsgi, args: uwsgi("--http-socket", addrs[3], "--add-header", "Connection: close"),
			ready: []string{addrs[3]}, rows: []*row{direct(rUwsgiHTTP, addrs[3], false)}},
		{server: "uwsgi-http11", bin: o.uwsgi, args: uwsgi("--http11-socket", addrs[4]),
			ready: []string{addrs[4]}, rows: []*row{direct(rUwsgiHTTP11, addrs[4], false)}},
		// Behind nginx, uWSGI has its --socket alone, as it is deployed
		// there. With a second socket its threads poll both and serialize
		// their accepts: it served half as many requests (11k against 20k
		// req/s behind nginx on 2026-12-07).
		{server: "uwsgi-socket", bin: o.uwsgi, args: uwsgi("--socket", b.sock(sockUwsgi)),
			ready: []string{"unix:" + b.sock(sockUwsgi)}, rows: []*row{viaNginx(rNginxUwsgi)}},
		{server: "minfront", bin: b.minBin, args: []string{"-addr", addrs[5], "-uwsgi", b.sock(sockMinUwsgi), "-runner", b.runner,
			"-python", o.python, "-module", app.module, "-dir", b.appDir, "-processes", procs, "-threads", threads},
			ready: []string{addrs[5], "unix:" + b.sock(sockMinUwsgi)},
			rows:  []*row{direct(rMinFront, addrs[5], false), viaNginx(rNginxMinUw)}},
	}, nil
}

// arbiterConns is arbiter's worker_connections: room for the slow clients
// and wrk's connections, with some to spare, and at least the default.
func arbiterConns(o options) int { return max(1000, 2*(o.slowClients+o.conns)) }

// check sends a few requests to r and verifies that each is answered by a
// process of the server whose process group is pgid.
func check(r *row, pgid int) error {
	c := &http.Client{Timeout: 10 * time.Second}
	for i := range 10 {
		resp, err := c.Get(r.url())
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("check request %d: %d %q %v", i, resp.StatusCode, body, err)
		}
		pid, err := answerPID(r.app, body)
		if err != nil {
			return fmt.Errorf("check request %d: %w", i, err)
		}
		if p, ok := procfs.Stat(pid); !ok || p.PGRP != pgid {
			return fmt.Errorf("check request %d: answered by pid %d, not a process of the server's group %d", i, pid, pgid)
		}
	}
	return nil
}

// answerPID reads the pid of the process that answered from an app's
// body: "hello from PID\n", or Flask's JSON {"greeting": "hello bench",
// "pid": PID}.
func answerPID(app string, body []byte) (int, error) {
	if app == "flask" {
		var v struct {
			Greeting string
			PID      int
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Greeting != "hello bench" || v.PID <= 0 {
			return 0, fmt.Errorf("unexpected flask answer %q", body)
		}
		return v.PID, nil
	}
	rest, ok := strings.CutPrefix(string(body), "hello from ")
	pid, err := strconv.Atoi(strings.TrimSuffix(rest, "\n"))
	if !ok || err != nil || pid <= 0 {
		return 0, fmt.Errorf("unexpected hello answer %q", body)
	}
	return pid, nil
}

// idleRSS reads the resident memory of the server's processes (group
// pgid), its app processes apart from the others (see appProc).
func idleRSS(app, server string, pgid int, arbiterBin string) procRSS {
	m := procRSS{app: app, server: server}
	for _, pid := range procfs.Group(pgid) {
		if appProc(pid, pgid, arbiterBin) {
			m.appProcs = append(m.appProcs, procfs.RSS(pid))
		} else {
			m.others = append(m.others, procfs.RSS(pid))
		}
	}
	return m
}
