package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/core/handlers"
)

const (
	arbiterWorkers = 2
	startTimeout   = 30 * time.Second
	stopGrace      = 5 * time.Second
)

// arbiterServer is a running arbiter master with its workers.
type arbiterServer struct {
	p    *proc
	addr string
	log  *logBook
}

// arbiterConfig is the config file of the measured fleet: 2 workers on a
// port the kernel picks, the app, everything else at its default (no
// access log).
func arbiterConfig(app string, t *tlsFiles) string {
	typ := "echo"
	if app == handlers.HelloName {
		typ = "go"
	}
	return fmt.Sprintf(`workers = %d

[log]
level = "info"
format = "json"

[[listen]]
address = "127.0.0.1:0"
protocol = "http"
%s
[app]
type = %q
`, arbiterWorkers, t.listenKeys(), typ)
}

// startArbiter writes the config for app into dir and starts `bin run` on
// it, then waits until the first generation is ready and the listening
// address is known. The master's stderr (its JSON log, and its workers')
// goes to a logBook.
func startArbiter(ctx context.Context, ps *procSet, bin, dir, app string, t *tlsFiles) (*arbiterServer, error) {
	path := filepath.Join(dir, app+".toml")
	if err := os.WriteFile(path, []byte(arbiterConfig(app, t)), 0o644); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("log pipe: %w", err)
	}
	cmd := exec.Command(bin, "run", path)
	cmd.Dir = dir
	cmd.Env = withoutEnv(os.Environ(), "GOMAXPROCS", "WEB_CONCURRENCY", "PORT")
	cmd.Stderr = w
	p, err := ps.start("arbiter ("+app+")", cmd)
	w.Close() // the master and its workers hold the write end now
	if err != nil {
		r.Close()
		return nil, err
	}
	a := &arbiterServer{p: p, log: newLogBook()}
	go func() {
		a.log.read(r)
		r.Close()
	}()
	e, _, err := a.log.wait(ctx, 0, startTimeout, `"listening"`, func(e logEntry) bool { return e.msg() == "listening" })
	if err != nil {
		return a, err
	}
	a.addr = e.str("address")
	if _, _, err := a.log.wait(ctx, 0, startTimeout, `"generation ready"`, func(e logEntry) bool { return e.msg() == "generation ready" }); err != nil {
		return a, err
	}
	return a, nil
}

// workerPIDs returns the pids of the workers that logged "worker ready"
// and have not logged "worker exited", by worker id.
func (a *arbiterServer) workerPIDs() map[int]int {
	pids := map[int]int{}
	for _, e := range a.log.all() {
		id, ok := e.num("worker")
		if !ok {
			continue
		}
		switch e.msg() {
		case "worker ready":
			if pid, ok := workerPID(e, a.p.pid()); ok {
				pids[id] = pid
			}
		case "worker exited":
			delete(pids, id)
		}
	}
	return pids
}

// pids returns the master's pid and its workers'.
func (a *arbiterServer) pids() []int {
	ps := []int{a.p.pid()}
	for _, pid := range a.workerPIDs() {
		ps = append(ps, pid)
	}
	return ps
}

// workerPID returns the worker's pid from a "worker ready" line of the
// master: its "worker_pid" field, or, in masters that log it as a second
// "pid" after their own, the "pid" that is not the master's.
func workerPID(e logEntry, master int) (int, bool) {
	if pid, ok := e.num("worker_pid"); ok {
		return pid, true
	}
	for _, v := range e.fields["pid"] {
		if pid, err := strconv.Atoi(string(v)); err == nil && pid != master {
			return pid, true
		}
	}
	return 0, false
}

// ttin sends SIGTTIN to the master n times, each time waiting for the new
// worker's "worker ready" line, and returns how long each took: from just
// before the signal to the moment the line was read from the pipe.
func (a *arbiterServer) ttin(ctx context.Context, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for range n {
		known := a.workerPIDs()
		from := a.log.len()
		t0 := time.Now()
		if err := syscall.Kill(a.p.pid(), syscall.SIGTTIN); err != nil {
			return ds, fmt.Errorf("send SIGTTIN: %w", err)
		}
		e, _, err := a.log.wait(ctx, from, 10*time.Second, `"worker ready" of a new worker`, func(e logEntry) bool {
			id, ok := e.num("worker")
			_, old := known[id]
			return ok && !old && e.msg() == "worker ready"
		})
		if err != nil {
			return ds, err
		}
		ds = append(ds, e.at.Sub(t0))
		// Let the master settle (it logs "worker count changed" and the
		// like) before the next signal, so signals are not coalesced.
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ds, ctx.Err()
		}
	}
	return ds, nil
}

// stop stops the master gracefully (SIGTERM), then kills its group.
func (a *arbiterServer) stop(ctx context.Context, ps *procSet) {
	ps.stop(ctx, a.p, syscall.SIGTERM, stopGrace)
}

// baselineServer is a running single-process net/http server.
type baselineServer struct {
	p          *proc
	addr       string
	gomaxprocs int
}

// startBaseline starts the baseline binary with GOMAXPROCS set to the
// number of CPUs and waits for its "listening on" line.
func startBaseline(ctx context.Context, ps *procSet, bin, app string, t *tlsFiles) (*baselineServer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	args := []string{"-app", app, "-addr", "127.0.0.1:0"}
	if t != nil {
		args = append(args, "-tls-cert", t.pair.Cert, "-tls-key", t.pair.Key)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutEnv(os.Environ(), "GOMAXPROCS"), "GOMAXPROCS="+strconv.Itoa(runtime.NumCPU()))
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	p, err := ps.start("net/http ("+app+")", cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	b := &baselineServer{p: p}
	line := make(chan string, 1)
	go func() {
		defer r.Close()
		br := bufio.NewReader(r)
		s, _ := br.ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, br)
	}()
	select {
	case s := <-line:
		if _, err := fmt.Sscanf(s, "listening on %s (GOMAXPROCS %d)", &b.addr, &b.gomaxprocs); err != nil {
			return b, fmt.Errorf("net/http baseline did not start: first line %q", s)
		}
		return b, nil
	case <-time.After(startTimeout):
		return b, fmt.Errorf("net/http baseline: no listening line after %v", startTimeout)
	case <-ctx.Done():
		return b, ctx.Err()
	}
}

func (b *baselineServer) stop(ctx context.Context, ps *procSet) {
	ps.stop(ctx, b.p, syscall.SIGTERM, stopGrace)
}

// withoutEnv returns env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// checkResponse makes one request and checks that app answered: status 200
// and the body app writes. It catches a benchmark of the wrong thing (an
// error page answered fast).
func checkResponse(ctx context.Context, addr, app string, t *tlsFiles) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url(addr), nil)
	if err != nil {
		return err
	}
	resp, err := t.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("check request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("check request: %w", err)
	}
	ok := resp.StatusCode == http.StatusOK
	want := `200 and a JSON reply with "method":"GET" and "protocol":"http"`
	if app == handlers.HelloName {
		want = `200 and "Hello from worker N (...) over http: /"`
		ok = ok && strings.HasPrefix(string(body), "Hello from worker ") && strings.HasSuffix(string(body), " over http: /\n")
	} else {
		ok = ok && strings.Contains(string(body), `"method":"GET"`) && strings.Contains(string(body), `"protocol":"http"`)
	}
	if !ok {
		return fmt.Errorf("check request: %s app on %s answered %s: %.200q (want %s)", app, addr, resp.Status, body, want)
	}
	return nil
}

// vmRSS returns the VmRSS line of /proc/<pid>/status, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	n, err := parseVmRSS(string(b))
	if err != nil {
		return 0, fmt.Errorf("rss of pid %d: %w", pid, err)
	}
	return n, nil
}

// parseVmRSS finds "VmRSS: <n> kB" in the text of a /proc/<pid>/status
// file and returns n KiB in bytes.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", strings.TrimSpace(line))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("malformed VmRSS line %q", strings.TrimSpace(line))
		}
		return n << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS line (a kernel thread or a zombie?)")
}
