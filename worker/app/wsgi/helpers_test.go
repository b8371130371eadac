package wsgi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// testPython is Debian's interpreter, which has the packages the tests use
// (flask, django); another python3 in PATH does for the rest.
func testPython(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing (.ci/run installs it)")
		}
		t.Skip("python3 is not installed")
	}
	return p
}

// hasModule reports whether the test interpreter can import mod.
func hasModule(t testing.TB, mod string) bool {
	t.Helper()
	return exec.Command(testPython(t), "-c", "import "+mod).Run() == nil
}

func needModule(t *testing.T, mod, pkg string) {
	t.Helper()
	if !hasModule(t, mod) {
		if os.Getenv("CI") != "" {
			t.Fatalf("python module %s is missing (.ci/run installs %s)", mod, pkg)
		}
		t.Skipf("python module %s is missing (apt-get install %s)", mod, pkg)
	}
}

// logBuf collects log lines, safe for the pool's goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond until it holds or the deadline (generous, for -race on
// a loaded machine) passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits for a log line containing every one of parts.
func (l *logBuf) wait(t testing.TB, parts ...string) string {
	t.Helper()
	var found string
	waitFor(t, "a log line with "+strings.Join(parts, ", "), func() bool {
		for _, line := range strings.Split(l.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				found = line
				return true
			}
		}
		return false
	})
	return found
}

type testApp struct {
	h   *Handler
	srv *httptest.Server
	log *logBuf
	url string
}

// startApp runs module from testdata/apps with the given settings behind
// an httptest server; everything is stopped, and checked for leftover
// processes, when the test ends.
func startApp(t *testing.T, module string, tune func(*Config)) *testApp {
	t.Helper()
	dir, err := filepath.Abs("testdata/apps")
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	c := Config{
		Module:     module,
		Python:     testPython(t),
		Dir:        dir,
		Env:        append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"),
		Processes:  2,
		Threads:    1,
		BufferSize: 64 << 10,
		TempDir:    t.TempDir(),
		Log:        zerolog.New(lb),
	}
	if tune != nil {
		tune(&c)
	}
	h, err := New(c)
	if err != nil {
		t.Fatalf("New: %v\nlog:\n%s", err, lb)
	}
	srv := httptest.NewServer(h)
	a := &testApp{h: h, srv: srv, log: lb, url: srv.URL}
	t.Cleanup(func() {
		pids := a.pids()
		srv.Close()
		h.Close()
		for _, pid := range pids {
			if procfs.Alive(pid) {
				t.Errorf("app process %d is still alive after Close", pid)
			}
		}
		if z := procfs.Zombies(os.Getpid()); len(z) > 0 {
			t.Errorf("zombie children after Close: %v", z)
		}
		if t.Failed() {
			t.Logf("log:\n%s", lb)
		}
	})
	return a
}

// pids are the app processes now (and the zygote's, if any).
func (a *testApp) pids() []int {
	var out []int
	for _, p := range a.h.AppProcesses() {
		if p.PID > 0 {
			out = append(out, p.PID)
		}
	}
	a.h.pool.mu.Lock()
	if z := a.h.pool.zyg; z != nil && z.pid > 0 {
		out = append(out, z.pid)
	}
	a.h.pool.mu.Unlock()
	return out
}

// readyPIDs are the pids of the processes that serve now.
func (a *testApp) readyPIDs() map[int]bool {
	out := map[int]bool{}
	for _, p := range a.h.AppProcesses() {
		if p.State == "idle" || p.State == "busy" {
			out[p.PID] = true
		}
	}
	return out
}

func (a *testApp) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	return a.do(t, http.MethodGet, path, nil)
}

func (a *testApp) do(t testing.TB, method, path string, body []byte) (*http.Response, string) {
	t.Helper()
	var r *http.Request
	var err error
	if body != nil {
		r, err = http.NewRequest(method, a.url+path, bytes.NewReader(body))
	} else {
		r, err = http.NewRequest(method, a.url+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, b.String()
}

func zerologTo(w io.Writer) zerolog.Logger { return zerolog.New(w) }
