package wsgi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// load sends n GETs of path from c goroutines and returns the statuses seen.
func load(t *testing.T, a *testApp, path string, n, c int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for g := 0; g < c; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/c; i++ {
				resp, err := http.Get(a.url + path)
				code := -1
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				seen[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return seen
}

func TestCrashIsReplacedAndOnlyItsRequestFails(t *testing.T) {
	a := startApp(t, "conformance", nil)
	before := a.readyPIDs()
	done := make(chan map[int]int)
	go func() { done <- load(t, a, "/pid", 200, 4) }()
	resp, _ := a.get(t, "/crash")
	if resp.StatusCode != 502 {
		t.Errorf("the crashing request: status %d, want 502", resp.StatusCode)
	}
	if seen := <-done; seen[200] != 200 {
		t.Errorf("other requests during the crash: %v, want 200 × 200", seen)
	}
	a.log.wait(t, "app process died", "exit status 9")
	waitFor(t, "a replacement", func() bool {
		now := a.readyPIDs()
		fresh := 0
		for pid := range now {
			if !before[pid] {
				fresh++
			}
		}
		return len(now) == 2 && fresh == 1
	})
}

func TestRequestTimeout(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.RequestTimeout = 500 * time.Millisecond; c.Processes = 1 })
	before := a.readyPIDs()
	resp, _ := a.get(t, "/sleep?60")
	if resp.StatusCode != 504 {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	line := a.log.wait(t, "request ran past request_timeout")
	for _, want := range []string{"GET /sleep?60", "in sleep", "conformance.py", "Current thread"} {
		if !strings.Contains(line, want) {
			t.Errorf("the timeout's log line has no %q: %s", want, line)
		}
	}
	waitFor(t, "a replacement", func() bool {
		now := a.readyPIDs()
		for pid := range now {
			if before[pid] {
				return false
			}
		}
		return len(now) == 1
	})
	if resp, body := a.get(t, "/pid"); resp.StatusCode != 200 {
		t.Errorf("after the timeout: %d %s", resp.StatusCode, body)
	}
}

func TestMaxRequestsRecyclesWithoutFailures(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.MaxRequests = 10; c.MaxRequestsJitter = 2; c.Processes = 1 })
	_, first := a.get(t, "/pid")
	served := map[string]bool{first: true}
	// Each round passes the limit, then waits for the replacement to take
	// over. A recycled process serves until its replacement is ready, so
	// every request succeeds, however long the replacement takes.
	for round := 0; round < 3; round++ {
		_, cur := a.get(t, "/pid")
		for i := 0; i < 12; i++ {
			if resp, body := a.get(t, "/pid"); resp.StatusCode != 200 {
				t.Fatalf("round %d request %d: %d %s", round, i, resp.StatusCode, body)
			}
		}
		waitFor(t, "the replacement of "+cur, func() bool {
			resp, now := a.get(t, "/pid")
			if resp.StatusCode != 200 {
				t.Fatalf("while recycling: %d %s", resp.StatusCode, now)
			}
			served[now] = true
			return now != cur
		})
	}
	if len(served) < 4 {
		t.Errorf("%d processes served, want 4", len(served))
	}
	a.log.wait(t, "recycling app process", "max_requests")
}

func TestMaxMemoryRecycles(t *testing.T) {
	base := int64(0)
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	for _, p := range a.h.AppProcesses() {
		base = procfs.RSS(p.PID)
	}
	a.h.Close()
	a = startApp(t, "conformance", func(c *Config) { c.Processes = 1; c.MaxMemory = base + 64<<20 })
	_, pid := a.get(t, "/grow?128")
	a.log.wait(t, "recycling app process", "max_memory")
	waitFor(t, "the grown process to be replaced", func() bool {
		_, now := a.get(t, "/pid")
		return now != pid
	})
}

func TestPreloadForksFromTheZygote(t *testing.T) {
	imports := filepath.Join(t.TempDir(), "imports")
	a := startApp(t, "conformance", func(c *Config) {
		c.Preload = true
		c.Processes = 3
		c.Env = append(c.Env, "ARBITER_TEST_IMPORTS="+imports)
	})
	a.h.pool.mu.Lock()
	zpid := a.h.pool.zyg.pid
	a.h.pool.mu.Unlock()
	for pid := range a.readyPIDs() {
		if p, ok := procfs.Stat(pid); !ok || p.PPID != zpid {
			t.Errorf("app process %d: parent %d, want the zygote %d", pid, p.PPID, zpid)
		}
	}
	// A crash is replaced by a fork, without importing the app again.
	resp, _ := a.get(t, "/crash")
	if resp.StatusCode != 502 {
		t.Errorf("crash: %d", resp.StatusCode)
	}
	waitFor(t, "3 processes again", func() bool { return len(a.readyPIDs()) == 3 })
	b, _ := os.ReadFile(imports)
	if got := strings.Fields(string(b)); len(got) != 1 || got[0] != strconv.Itoa(zpid) {
		t.Errorf("the app was imported by %v, want only by the zygote %d", got, zpid)
	}
	if seen := load(t, a, "/pid", 60, 3); seen[200] != 60 {
		t.Errorf("after the respawn: %v", seen)
	}
}

func TestZygoteDeathRestartsEverything(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Preload = true; c.Processes = 2 })
	a.h.pool.mu.Lock()
	zpid := a.h.pool.zyg.pid
	a.h.pool.mu.Unlock()
	old := a.readyPIDs()
	_ = syscall.Kill(zpid, syscall.SIGKILL)
	a.log.wait(t, "the zygote (preload) died")
	waitFor(t, "a new zygote and 2 new processes", func() bool {
		now := a.readyPIDs()
		for pid := range now {
			if old[pid] {
				return false
			}
		}
		return len(now) == 2
	})
	for pid := range old {
		waitFor(t, fmt.Sprintf("old process %d to be gone", pid), func() bool { return !procfs.Alive(pid) })
	}
}

func TestBootFailures(t *testing.T) {
	dir, _ := filepath.Abs("testdata/apps")
	for _, tc := range []struct {
		module string
		env    []string
		want   string
		// The traceback keeps only the app's own frames: none when the
		// loader itself refused the spec.
		wantTB string
	}{
		{"nosuchmodule", nil, "ModuleNotFoundError: No module named 'nosuchmodule'", ""},
		{"conformance:nope", nil, "has no attribute 'nope'", ""},
		{"conformance:ROUTES", nil, "is not callable", ""},
		{"conformance", []string{"ARBITER_TEST_FAIL_IF=/"}, "RuntimeError: told to fail", "conformance.py"},
		{"conformance:create_app(", nil, "is not a name or a call", ""},
	} {
		for _, preload := range []bool{false, true} {
			lb := &logBuf{}
			before := procfs.Children(os.Getpid())
			_, err := New(Config{Module: tc.module, Python: testPython(t), Dir: dir, Env: append(os.Environ(), tc.env...),
				Processes: 2, Preload: preload, Log: zerologTo(lb)})
			var le *AppLoadError
			if !errors.As(err, &le) {
				t.Errorf("%s (preload %v): err %v, want an AppLoadError", tc.module, preload, err)
				continue
			}
			if !strings.Contains(le.Exception, tc.want) {
				t.Errorf("%s (preload %v): exception %q, want %q", tc.module, preload, le.Exception, tc.want)
			}
			if tc.wantTB == "" && le.Traceback != "" || !strings.Contains(le.Traceback, tc.wantTB) {
				t.Errorf("%s (preload %v): traceback %q, want one naming %q", tc.module, preload, le.Traceback, tc.wantTB)
			}
			if strings.Contains(le.Traceback, "arbiter_wsgi") || strings.Contains(le.Traceback, "importlib") {
				t.Errorf("%s (preload %v): traceback shows the runner's frames: %q", tc.module, preload, le.Traceback)
			}
			if after := procfs.Children(os.Getpid()); len(after) > len(before) {
				t.Errorf("%s (preload %v): processes left: %v", tc.module, preload, after)
			}
		}
	}
	_, err := New(Config{Module: "x", Python: "/nonexistent/python3", Log: zerologTo(&logBuf{})})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/python3") {
		t.Errorf("missing interpreter: %v", err)
	}
}

func TestRespawnFailureThen503ThenRecovery(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "fail")
	a := startApp(t, "conformance", func(c *Config) {
		c.Processes = 1
		c.Env = append(c.Env, "ARBITER_TEST_FAIL_IF="+flag)
	})
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.get(t, "/crash")
	a.log.wait(t, "app process failed to start", "told to fail")
	waitFor(t, "503 while nothing serves", func() bool {
		resp, _ := a.get(t, "/pid")
		return resp.StatusCode == 503
	})
	os.Remove(flag)
	waitFor(t, "a process again", func() bool {
		resp, _ := a.get(t, "/pid")
		return resp.StatusCode == 200
	})
}

// A replacement whose import hangs is killed after BootTimeout and
// retried; once the import works again, a process serves.
func TestReplacementStuckInImportIsKilled(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "hang")
	a := startApp(t, "conformance", func(c *Config) {
		c.Processes = 1
		c.BootTimeout = time.Second
		c.Env = append(c.Env, "ARBITER_TEST_HANG_IF="+flag)
	})
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a.get(t, "/crash")
	a.log.wait(t, "app process failed to start", "did not become ready within 1s")
	os.Remove(flag)
	waitFor(t, "a process again", func() bool {
		resp, _ := a.get(t, "/pid")
		return resp.StatusCode == 200
	})
}

func TestSIGUSR2DumpsThreads(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	for pid := range a.readyPIDs() {
		_ = syscall.Kill(pid, syscall.SIGUSR2)
	}
	line := a.log.wait(t, "traceback of every thread (SIGUSR2)")
	if !strings.Contains(line, "Current thread") && !strings.Contains(line, "Thread 0x") {
		t.Errorf("no traceback in %s", line)
	}
	if resp, _ := a.get(t, "/pid"); resp.StatusCode != 200 {
		t.Errorf("after SIGUSR2: %d", resp.StatusCode)
	}
}

func TestThreadsServeAtOnce(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1; c.Threads = 4 })
	if seen := load(t, a, "/barrier?4", 4, 4); seen[200] != 4 {
		t.Errorf("4 requests that wait for each other in one process of 4 threads: %v", seen)
	}
	_, body := a.get(t, "/environ")
	if !strings.Contains(body, `"wsgi.multithread": true`) {
		t.Errorf("wsgi.multithread is not true with 4 threads: %s", body)
	}
}

// TestSlowClientsHoldNoProcess: with one process, a client that sends its
// body slowly and one that does not read a large response do not keep the
// process from the next request.
func TestSlowClientsHoldNoProcess(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	addr := strings.TrimPrefix(a.url, "http://")
	slowUp, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowUp.Close()
	fmt.Fprintf(slowUp, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly part of it")
	slowDown, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slowDown.Close()
	fmt.Fprintf(slowDown, "GET /big?%d HTTP/1.1\r\nHost: x\r\n\r\n", 32<<20)
	big, err := http.ReadResponse(bufio.NewReader(slowDown), nil)
	if err != nil || big.StatusCode != 200 {
		t.Fatalf("big response: %v %v", big, err)
	}
	// Neither is done, and the one process answers at once.
	for i := 0; i < 5; i++ {
		if resp, body := a.get(t, "/pid"); resp.StatusCode != 200 {
			t.Fatalf("with two slow clients: %d %s", resp.StatusCode, body)
		}
	}
	for _, p := range a.h.AppProcesses() {
		if p.Busy != 0 {
			t.Errorf("process %d is busy with a slow client", p.PID)
		}
	}
	// The slow download still arrives whole.
	n, _ := io.Copy(io.Discard, big.Body)
	if n != 32<<20 {
		t.Errorf("slow download: %d bytes", n)
	}
}

// slow_request_log logs a request once, while it runs, with its process's
// traceback; the process goes on and the request succeeds.
func TestSlowRequestLog(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) {
		c.SlowRequestLog = 100 * time.Millisecond
		c.Processes, c.Threads = 1, 2
	})
	first := make(chan string, 1)
	go func() {
		resp, err := http.Get(a.url + "/barrier?2") // waits for a second request
		if err != nil {
			first <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first <- fmt.Sprint(resp.StatusCode, " ", string(body))
	}()
	line := a.log.wait(t, "slow request", `GET /barrier?2"`)
	for _, want := range []string{"in barrier", "conformance.py", "elapsed"} {
		if !strings.Contains(line, want) {
			t.Errorf("the slow request's log line has no %q: %s", want, line)
		}
	}
	if resp, body := a.get(t, "/barrier?02"); resp.StatusCode != 200 {
		t.Fatalf("second request: %d %s", resp.StatusCode, body)
	}
	if got := <-first; got != "200 met" {
		t.Fatalf("the slow request: %s", got)
	}
	if n := strings.Count(a.log.String(), `GET /barrier?2"`); n != 1 {
		t.Errorf("%d log lines for the slow request, want 1:\n%s", n, a.log.String())
	}
}

func TestSweepEvery(t *testing.T) {
	for _, tt := range []struct {
		timeout, slow, want time.Duration
	}{
		{0, 0, 0},
		{30 * time.Second, 0, time.Second},
		{2 * time.Second, 0, 200 * time.Millisecond},
		{50 * time.Millisecond, 0, 10 * time.Millisecond},
		{30 * time.Second, 5 * time.Second, 500 * time.Millisecond},
		{0, 3 * time.Second, 300 * time.Millisecond},
		// A slow_request_log not below request_timeout is off.
		{2 * time.Second, 5 * time.Second, 200 * time.Millisecond},
	} {
		if got := sweepEvery(Config{RequestTimeout: tt.timeout, SlowRequestLog: tt.slow}); got != tt.want {
			t.Errorf("sweepEvery(request_timeout %v, slow_request_log %v) = %v, want %v", tt.timeout, tt.slow, got, tt.want)
		}
	}
}
