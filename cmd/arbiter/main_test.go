package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	arbconfig "github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Cleanup()
	os.Exit(code)
}

// fixture is one running arbiter with its config in a temp dir.
type fixture struct {
	t    *testing.T
	dir  string
	addr string
	cfg  string
	srv  *proctest.Server
}

// start writes config (with {{addr}} and {{dir}} replaced) and runs
// `arbiter run` on it, waiting for the first generation to be ready.
func start(t *testing.T, config string, env ...string) *fixture {
	t.Helper()
	f := startNoWait(t, config, env...)
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	return f
}

// startNoWait is start without waiting for readiness.
func startNoWait(t *testing.T, config string, env ...string) *fixture {
	t.Helper()
	f := newFixture(t, config)
	f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg}, env...)
	return f
}

func newFixture(t *testing.T, config string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), addr: proctest.FreeAddr(t)}
	f.cfg = filepath.Join(f.dir, "app.toml")
	f.write(config)
	// A master killed at the end of a test leaves its control socket; one
	// outside the test's directory (/run/arbiter for a config without a
	// pidfile) would stay. This cleanup runs after the kill.
	t.Cleanup(func() {
		if p, err := arbconfig.FindControlSocket(f.cfg, os.Getenv, os.Getuid()); err == nil && p != "" {
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
				os.Remove(p)
			}
		}
	})
	return f
}

func (f *fixture) write(config string) {
	f.t.Helper()
	config = strings.ReplaceAll(config, "{{addr}}", f.addr)
	config = strings.ReplaceAll(config, "{{dir}}", f.dir)
	if err := os.WriteFile(f.cfg, []byte(config), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// workers returns the pids of the master's live children.
func (f *fixture) workers() []int { return proctest.Children(f.srv.PID) }

// waitWorkers waits until the master has n live children and returns them.
func (f *fixture) waitWorkers(n int, timeout time.Duration) []int {
	f.t.Helper()
	var pids []int
	proctest.Eventually(f.t, timeout, fmt.Sprintf("%d workers", n), func() bool {
		pids = f.workers()
		return len(pids) == n
	})
	return pids
}

var client = &http.Client{Timeout: 10 * time.Second}

// fetch GETs url (the master's status server, say) and returns the status
// code and the body; a failed request fails the test.
func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// get fetches path from the fixture's HTTP listener and decodes echo's reply.
func (f *fixture) get(path string) echo.Reply {
	f.t.Helper()
	resp, err := client.Get("http://" + f.addr + path)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		f.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	var r echo.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		f.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return r
}

func contains(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}
