package cgi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// fixture is a Handler over a temporary directory of scripts, and its log.
type fixture struct {
	t    *testing.T
	dir  string // a scratch directory for files scripts write
	root string // the script directory
	h    *Handler
	log  *testutil.Buffer
}

// newFixture makes a root with the given scripts (name → content, all
// written mode 0755 unless the name ends in ".txt") and a Handler for it.
// cfg.Root is set when neither Root nor Script is; cfg.Script may name one
// of the scripts by its base name.
func newFixture(t *testing.T, cfg Config, scripts map[string]string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), root: t.TempDir(), log: &testutil.Buffer{}}
	for name, body := range scripts {
		f.write(name, body)
	}
	if cfg.Script != "" && !filepath.IsAbs(cfg.Script) {
		cfg.Script = filepath.Join(f.root, cfg.Script)
	} else if cfg.Script == "" && cfg.Root == "" {
		cfg.Root = f.root
	}
	cfg.Log = zerolog.New(f.log).Level(zerolog.DebugLevel)
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
		testutil.WaitNoLeaks(t, "worker/app/cgi.")
		if t.Failed() {
			t.Logf("log:\n%s", f.log.String())
		}
	})
	return f
}

// write puts a script (or any file) under the root; "{{dir}}" in body is
// replaced by the scratch directory.
func (f *fixture) write(name, body string) string {
	f.t.Helper()
	p := filepath.Join(f.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	mode := os.FileMode(0o755)
	if strings.HasSuffix(name, ".txt") {
		mode = 0o644
	}
	body = strings.ReplaceAll(body, "{{dir}}", f.dir)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// do serves one request through a ResponseRecorder (not hijackable).
func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	f.t.Helper()
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// get is do for a GET of target.
func (f *fixture) get(target string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(httptest.NewRequest("GET", target, nil))
}

// serve starts an httptest.Server with the handler; it is closed before
// the handler at cleanup.
func (f *fixture) serve() *httptest.Server {
	f.t.Helper()
	srv := httptest.NewServer(f.h)
	f.t.Cleanup(srv.Close)
	return srv
}

// logEvents returns the JSON log events with this message.
func (f *fixture) logEvents(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(f.log.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// waitLog waits up to 5 s for an event with msg for which match holds.
func (f *fixture) waitLog(msg string, match func(map[string]any) bool) map[string]any {
	f.t.Helper()
	var found map[string]any
	proctest.Eventually(f.t, 5*time.Second, "log event "+msg, func() bool {
		for _, e := range f.logEvents(msg) {
			if match == nil || match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// waitFile waits up to 5 s for a file to exist and hold a line, and
// returns its content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	var s string
	proctest.Eventually(t, 5*time.Second, path, func() bool {
		b, err := os.ReadFile(path)
		s = string(b)
		return err == nil && strings.HasSuffix(s, "\n")
	})
	return strings.TrimSpace(s)
}

// readPid reads a pid a script wrote.
func readPid(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(waitFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGroupGone waits for every process of group pgid to be gone.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	proctest.Eventually(t, 5*time.Second, fmt.Sprintf("process group %d to be gone", pgid), func() bool {
		return len(procfs.Group(pgid)) == 0
	})
}

// parseEnv turns `env` output (after a header block) into a map. Values
// are single lines in these tests.
func parseEnv(body string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// rawRequest sends raw over a new connection to srv and returns everything
// the server sends until it closes the connection.
func rawRequest(t *testing.T, srv *httptest.Server, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

// withLocalAddr gives r the local address net/http would.
func withLocalAddr(r *http.Request, addr string) *http.Request {
	a, _ := net.ResolveTCPAddr("tcp", addr)
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, a))
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool { return proctest.Alive(pid) }

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o755) }
