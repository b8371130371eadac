package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// bench is the running set-up: the script, arbiter, fcgiwrap, the minimal
// Go gateway and nginx.
type bench struct {
	dir        string
	keep       bool
	script     string // absolute path of the script
	arbiterBin string
	arbiter    *benchkit.Server
	fcgiwrap   *benchkit.Server
	minimal    *benchkit.Server
	ng         *nginxtest.Nginx
}

// setUp writes the script and the configurations into a temporary
// directory, builds mingateway, and starts arbiter, fcgiwrap, mingateway
// and nginx. On error the returned
// bench (if not nil) holds what was started, for tearDown.
func setUp(ctx context.Context, o options, fcgiwrapBin string) (*bench, error) {
	dir, err := os.MkdirTemp("", "arbiter-bench-cgi-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, keep: o.keep}
	site := filepath.Join(dir, "site")
	bin := filepath.Join(site, "cgi-bin")
	run := filepath.Join(dir, "run")
	for _, d := range []string{bin, run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return b, err
		}
	}
	b.script = filepath.Join(bin, "hello.sh")
	if err := os.WriteFile(b.script, []byte(script), 0o755); err != nil {
		return b, err
	}

	if b.arbiterBin, err = benchkit.ArbiterBinary(ctx, o.arbiter, dir); err != nil {
		return b, err
	}

	arbSock := filepath.Join(run, "arbiter.sock")
	cfg := fmt.Sprintf(`workers = %d

[log]
level = "warn"

[[listen]]
address = %q
protocol = "fastcgi"

[app]
type = "cgi"
root = %q
`, o.workers, "unix:"+arbSock, bin)
	cfgPath := filepath.Join(dir, "arbiter.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return b, err
	}
	if b.arbiter, err = benchkit.StartServer("arbiter", b.arbiterBin, []string{"run", cfgPath}, serverEnv(),
		filepath.Join(dir, "arbiter.log"), "unix:"+arbSock); err != nil {
		return b, err
	}

	fwSock := filepath.Join(run, "fcgiwrap.sock")
	if b.fcgiwrap, err = benchkit.StartServer("fcgiwrap", fcgiwrapBin,
		[]string{"-c", strconv.Itoa(o.fcgiwrapProcs), "-s", "unix:" + fwSock}, serverEnv(),
		filepath.Join(dir, "fcgiwrap.log"), "unix:"+fwSock); err != nil {
		return b, err
	}

	root, err := benchkit.ModuleRoot()
	if err != nil {
		return b, err
	}
	minBin, err := benchkit.GoBuild(ctx, root, dir, "./internal/bench/cgi/mingateway")
	if err != nil {
		return b, err
	}
	minSock := filepath.Join(run, "mingateway.sock")
	if b.minimal, err = benchkit.StartServer("mingateway", minBin, []string{minSock}, serverEnv(),
		filepath.Join(dir, "mingateway.log"), "unix:"+minSock); err != nil {
		return b, err
	}

	// The same location for each, as docs/cgi.md sets up fcgiwrap: the
	// script's path split off the URI, SCRIPT_FILENAME under the site.
	var server strings.Builder
	for _, s := range []struct{ name, sock string }{{"arbiter", arbSock}, {"fcgiwrap", fwSock}, {"mingateway", minSock}} {
		fmt.Fprintf(&server, `location /%[1]s/cgi-bin/ {
    include /etc/nginx/fastcgi_params;
    fastcgi_split_path_info ^/%[1]s(/cgi-bin/.+?\.sh)(/.*)?$;
    fastcgi_param SCRIPT_FILENAME %[2]s$fastcgi_script_name;
    fastcgi_param PATH_INFO $fastcgi_path_info;
    fastcgi_pass unix:%[3]s;
}
`, s.name, site, s.sock)
	}
	ngDir := filepath.Join(dir, "nginx")
	if err := os.Mkdir(ngDir, 0o755); err != nil {
		return b, err
	}
	b.ng, err = nginxtest.Launch(ngDir, nginxtest.Config{
		Server: server.String(), ErrorLogLevel: "error",
		MasterProcess: true, WorkerProcesses: o.nginxWorkers,
	})
	return b, err
}

// check sends a few requests through r's location and verifies each
// answer: 200, the script's line, and a script whose parent belongs to
// the process group of the server the row names.
func (b *bench) check(r *row) error {
	want := b.arbiter.Pid()
	switch r.name {
	case rowFcgiwrap:
		want = b.fcgiwrap.Pid()
	case rowMinimal:
		want = b.minimal.Pid()
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for i := range 20 {
		resp, err := c.Get(b.ng.URL(r.path))
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("check request %d: %d %q %v", i, resp.StatusCode, body, err)
		}
		rest, ok := strings.CutPrefix(string(body), "hello from ")
		ppid, err := strconv.Atoi(strings.TrimSpace(rest))
		if !ok || err != nil {
			return fmt.Errorf("check request %d: unexpected body %q", i, body)
		}
		if p, ok := procfs.Stat(ppid); !ok || p.PGRP != want {
			return fmt.Errorf("check request %d: the script's parent %d (gone: %v) is not in %s's process group %d",
				i, ppid, !ok, r.name, want)
		}
	}
	return nil
}

// stopGrace is how long a gateway has to exit after SIGTERM before its
// process group is killed.
const stopGrace = 10 * time.Second

// tearDown stops nginx, arbiter (SIGTERM to its master), fcgiwrap and
// mingateway (SIGTERM to their process groups), then removes the directory unless kept.
func (b *bench) tearDown() {
	if b.ng != nil {
		if err := b.ng.Stop(10 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "bench-cgi: %v\n", err)
		}
	}
	if b.fcgiwrap != nil {
		b.fcgiwrap.Stop(syscall.SIGTERM, true, stopGrace)
	}
	if b.minimal != nil {
		b.minimal.Stop(syscall.SIGTERM, true, stopGrace)
	}
	if b.arbiter != nil {
		b.arbiter.Stop(syscall.SIGTERM, false, stopGrace)
	}
	if !b.keep {
		os.RemoveAll(b.dir)
	}
}
