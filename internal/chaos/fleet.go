package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// Scale sizes the scenarios: Full for `make chaos`, Short for the tests.
type Scale struct {
	Conns int // keep-alive connections of the load generator

	KillEvery, KillFor time.Duration // kill-worker: a kill every KillEvery for KillFor
	KillWorkers        int           // kill-worker: the fleet's size

	GracefulTimeout time.Duration // kill-master: graceful_timeout
	Scripts         int           // kill-master: CGI scripts in flight at the kill

	Timeout time.Duration // sigstop: timeout

	HostileRounds int // hostile: rounds of every case after the first

	Respawns, SampleEvery int // soak: respawns in all, and between samples

	Slowloris int           // slowloris: slow connections per protocol
	WrkFor    time.Duration // slowloris: each wrk run
	WrkRounds int           // slowloris: wrk runs with and without, alternating
}

// Full is the scale of `make chaos`, as issue 12 sets it.
var Full = Scale{
	Conns:     64,
	KillEvery: 500 * time.Millisecond, KillFor: 30 * time.Second, KillWorkers: 4,
	GracefulTimeout: 5 * time.Second, Scripts: 8,
	Timeout: 5 * time.Second, HostileRounds: 20,
	Respawns: 10000, SampleEvery: 1000,
	Slowloris: 1000, WrkFor: 10 * time.Second, WrkRounds: 2,
}

// Short is the scale of the tests: seconds per scenario.
var Short = Scale{
	Conns:     8,
	KillEvery: 500 * time.Millisecond, KillFor: 3 * time.Second, KillWorkers: 2,
	GracefulTimeout: 2 * time.Second, Scripts: 2,
	Timeout: 2 * time.Second, HostileRounds: 2,
	Respawns: 150, SampleEvery: 50,
	Slowloris: 50, WrkFor: time.Second, WrkRounds: 1,
}

// fleet is an arbiter a scenario started, with its status server.
type fleet struct {
	*benchkit.Arbiter
	status string            // the status server's host:port
	addrs  map[string]string // placeholder ("http", "fastcgi", ...) → address
	client *http.Client
}

// configHead comes before a scenario's config (its top-level keys, then
// its tables) and configTail after it: a pidfile, a JSON log on stderr, the
// status server.
const (
	configHead = "# written by internal/chaos\npidfile = \"{{dir}}/run/arbiter.pid\"\n"
	configTail = `
[log]
level = "info"
format = "json"
{{log}}

[status]
address = "{{status}}"
`
)

// startFleet starts arbiter in dir with cfg between configHead and configTail, in which
// {{dir}} is dir and {{NAME}} for each name in listeners a free loopback
// address, and waits for the first generation and every listener.
func startFleet(e *Env, dir, cfg string, listeners ...string) (*fleet, error) {
	return startFleetLog(e, dir, cfg, "", listeners...)
}

// startFleetLog is startFleet with logKeys added to [log]. With a log.file
// the log does not come on stderr: readiness is then the status server's
// /readyz.
func startFleetLog(e *Env, dir, cfg, logKeys string, listeners ...string) (*fleet, error) {
	f := &fleet{addrs: map[string]string{}, client: &http.Client{Timeout: 5 * time.Second}}
	var err error
	if f.status, err = nginxtest.FreeAddr(); err != nil {
		return nil, err
	}
	pairs := []string{"{{dir}}", dir, "{{status}}", f.status, "{{log}}", logKeys}
	var ready []string
	for _, name := range listeners {
		addr, err := nginxtest.FreeAddr()
		if err != nil {
			return nil, err
		}
		f.addrs[name] = addr
		pairs = append(pairs, "{{"+name+"}}", addr)
		ready = append(ready, addr)
	}
	text := strings.NewReplacer(pairs...).Replace(configHead + cfg + configTail)
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	up := func(a *benchkit.Arbiter) bool {
		_, ok := a.Log.Wait(0, 30*time.Second, benchkit.MsgIs("generation ready"))
		return ok
	}
	if logKeys != "" {
		up = func(*benchkit.Arbiter) bool {
			return waitFor(context.Background(), 30*time.Second, func() bool {
				resp, err := f.client.Get("http://" + f.status + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
		}
	}
	a, err := benchkit.StartArbiterWhen(e.Bin, dir, text, filepath.Join(dir, "run", "arbiter.pid"), up, ready...)
	if err != nil {
		return nil, err
	}
	f.Arbiter = a
	return f, nil
}

// snapshot reads /status.
func (f *fleet) snapshot() (*master.Snapshot, error) {
	resp, err := f.client.Get("http://" + f.status + "/status")
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	defer resp.Body.Close()
	var s master.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return &s, nil
}

// readyWorkers returns the workers in state ready.
func readyWorkers(s *master.Snapshot) []master.WorkerStatus {
	var out []master.WorkerStatus
	for _, w := range s.Workers {
		if w.State == "ready" {
			out = append(out, w)
		}
	}
	return out
}

// waitFull waits up to timeout until the fleet is whole: as many workers as
// wanted, every one ready, none of them in gone. It returns the snapshot
// that showed it.
func (f *fleet) waitFull(gone []int, timeout time.Duration) (*master.Snapshot, error) {
	deadline := time.Now().Add(timeout)
	var last *master.Snapshot
	var lastErr error
	for {
		s, err := f.snapshot()
		if err == nil {
			last = s
			if full(s, gone) {
				return s, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if last == nil {
				return nil, fmt.Errorf("fleet not whole after %v: %w", timeout, lastErr)
			}
			return nil, fmt.Errorf("fleet not whole after %v: %d wanted, workers %s", timeout, last.Desired, describeWorkers(last))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func full(s *master.Snapshot, gone []int) bool {
	if s.State != "running" || len(s.Workers) != s.Desired {
		return false
	}
	for _, w := range s.Workers {
		if w.State != "ready" || slices.Contains(gone, w.PID) {
			return false
		}
	}
	return true
}

func describeWorkers(s *master.Snapshot) string {
	var parts []string
	for _, w := range s.Workers {
		parts = append(parts, fmt.Sprintf("%d:%s", w.PID, w.State))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// finish ends a scenario's fleet: the master must have no zombie children,
// and a TERM must stop it and its whole process group.
func (f *fleet) finish(r *Result) {
	if pid, err := f.Master(); err == nil && procfs.Alive(pid) {
		z := procfs.Zombies(pid)
		r.check("the master leaves no zombie children", len(z) == 0, "%d zombies", len(z))
	}
	err := f.Stop()
	r.check("TERM stops the master and every process of its group", err == nil, "%v", errText(err))
}

func errText(err error) string {
	if err == nil {
		return "none left"
	}
	return err.Error()
}
