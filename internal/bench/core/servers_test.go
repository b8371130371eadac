package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/bench/core/handlers"
)

func TestArbiterConfigIsValid(t *testing.T) {
	for _, tt := range []struct{ app, typ string }{{handlers.EchoName, config.AppEcho}, {handlers.HelloName, config.AppGo}} {
		path := filepath.Join(t.TempDir(), "app.toml")
		if err := os.WriteFile(path, []byte(arbiterConfig(tt.app, nil)), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.Overrides{})
		if err != nil {
			t.Fatalf("%s: %v", tt.app, err)
		}
		if cfg.Workers != arbiterWorkers || cfg.App.Type != tt.typ || len(cfg.Listen) != 1 ||
			cfg.Listen[0].Address != "127.0.0.1:0" || cfg.Log.AccessLog != "" {
			t.Errorf("%s: %+v", tt.app, cfg)
		}
	}
}

func TestCheckResponseRejectsWrongAnswers(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Hello from nginx")) }))
	defer other.Close()
	for _, srv := range []*httptest.Server{notFound, other} {
		addr := strings.TrimPrefix(srv.URL, "http://")
		for _, app := range []string{handlers.EchoName, handlers.HelloName} {
			if err := checkResponse(context.Background(), addr, app, nil); err == nil {
				t.Errorf("%s: checkResponse accepted %s", app, srv.URL)
			}
		}
	}
}

func TestWrkSummary(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ps := newProcSet()
	defer ps.killAll()
	wk, err := newWrk(ps, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := wk.run(context.Background(), srv.URL+"/", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.errors() != 0 || r.DurationUS < 900_000 || r.p50() <= 0 || r.p99() < r.p50() {
		t.Errorf("summary %+v", r)
	}
}

// TestServersEndToEnd builds the three programs and runs what the benchmark
// runs, without the load: each server answers, arbiter's log gives its
// workers, TTIN adds ready workers, and stopping leaves no process behind.
func TestServersEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real servers")
	}
	checkGoroutines(t)
	ctx := context.Background()
	root, err := benchkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ps := newProcSet()
	defer ps.killAll()
	bins, err := build(ctx, ps, root, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}

	certs, err := newTLSFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct {
		app string
		t   *tlsFiles
	}{{handlers.EchoName, nil}, {handlers.HelloName, nil}, {handlers.HelloName, certs}} {
		app, tf := sc.app, sc.t
		b, err := startBaseline(ctx, ps, bins.baseline, app, tf)
		if err != nil {
			t.Fatalf("%s baseline: %v", app, err)
		}
		if err := checkResponse(ctx, b.addr, app, tf); err != nil {
			t.Errorf("%s baseline: %v", app, err)
		}
		if b.gomaxprocs < 1 {
			t.Errorf("%s baseline: GOMAXPROCS %d", app, b.gomaxprocs)
		}
		if rss, err := vmRSS(b.p.pid()); err != nil || rss <= 0 {
			t.Errorf("%s baseline: rss %d, %v", app, rss, err)
		}
		b.stop(ctx, ps)
		if alive(b.p.pid()) {
			t.Errorf("%s baseline survived stop", app)
		}

		bin := bins.arbiter
		if app == handlers.HelloName {
			bin = bins.hello
		}
		a, err := startArbiter(ctx, ps, bin, dir, app, tf)
		if err != nil {
			t.Fatalf("%s arbiter: %v", app, err)
		}
		if err := checkResponse(ctx, a.addr, app, tf); err != nil {
			t.Errorf("%s arbiter: %v", app, err)
		}
		pids := a.workerPIDs()
		if len(pids) != arbiterWorkers {
			t.Errorf("%s arbiter: workers %v", app, pids)
		}
		for id, pid := range pids {
			if pid == a.p.pid() || !alive(pid) {
				t.Errorf("%s arbiter: worker %d has pid %d (master %d)", app, id, pid, a.p.pid())
			}
		}
		ds, err := a.ttin(ctx, 2)
		if err != nil || len(ds) != 2 {
			t.Errorf("%s arbiter: ttin = %v, %v", app, ds, err)
		}
		all := a.workerPIDs()
		if len(all) != arbiterWorkers+2 {
			t.Errorf("%s arbiter: after 2 TTIN, workers %v", app, all)
		}
		a.stop(ctx, ps)
		for _, pid := range append([]int{a.p.pid()}, values(all)...) {
			if alive(pid) {
				t.Errorf("%s arbiter: pid %d survived stop", app, pid)
			}
		}
	}
}

func values(m map[int]int) []int {
	var vs []int
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}
