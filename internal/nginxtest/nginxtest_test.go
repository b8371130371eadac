package nginxtest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// nginx serves, proxies to a Go server, and leaves no process behind, with
// and without a master process.
func TestStartServesAndStops(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s", r.URL.Path)
	}))
	defer up.Close()
	for _, tt := range []struct {
		name    string
		master  bool
		workers int
		members int // processes in nginx's group while it runs
	}{
		{"single process", false, 0, 1},
		{"master and 2 workers", true, 2, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			goroutines := runtime.NumGoroutine()
			n := Start(t, Config{
				MasterProcess: tt.master, WorkerProcesses: tt.workers, AccessLog: true,
				Server: "location / { return 200 \"hello\\n\"; }\nlocation /up/ { proxy_pass " + up.URL + "; }",
			})
			if code, body := get(t, n.URL("/")); code != 200 || body != "hello\n" {
				t.Fatalf("GET /: %d %q", code, body)
			}
			if code, body := get(t, n.URL("/up/x")); code != 200 || body != "upstream saw /up/x" {
				t.Fatalf("GET /up/x: %d %q", code, body)
			}
			pid := n.PID()
			waitFor(t, fmt.Sprintf("%d processes in group %d", tt.members, pid), func() bool {
				return len(procfs.Group(pid)) == tt.members
			})
			if errs := n.Errors(); len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if err := n.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			select {
			case <-n.Done():
			default:
				t.Fatal("Stop returned before nginx exited")
			}
			if left := procfs.Group(pid); len(left) > 0 {
				t.Fatalf("left behind: %v", left)
			}
			if c, err := net.DialTimeout("tcp", n.Addr, time.Second); err == nil {
				c.Close()
				t.Fatalf("%s still accepts after Stop", n.Addr)
			}
			if err := n.Stop(time.Second); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
			waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
		})
	}
}

// A configuration nginx refuses is reported with nginx's own message.
func TestLaunchReportsConfigError(t *testing.T) {
	Require(t)
	_, err := Launch(t.TempDir(), Config{Server: "no_such_directive on;"})
	if err == nil || !strings.Contains(err.Error(), `unknown directive "no_such_directive"`) {
		t.Fatalf("err = %v", err)
	}
}

// Upstream failures land in Errors, after the mark they happened after.
func TestErrorsSince(t *testing.T) {
	closed, err := FreeAddr() // nobody listens on it
	if err != nil {
		t.Fatal(err)
	}
	n := Start(t, Config{Server: "location / { proxy_pass http://" + closed + "; }"})
	before := n.Mark()
	if errs := n.Errors(); len(errs) != 0 {
		t.Fatalf("errors before any request: %v", errs)
	}
	if code, _ := get(t, n.URL("/")); code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
	after := n.Mark()
	errs := n.ErrorsSince(before)
	if len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), "Connection refused") {
		t.Fatalf("errors since mark: %v", errs)
	}
	if errs := n.ErrorsSince(after); len(errs) != 0 {
		t.Fatalf("errors after the last request: %v", errs)
	}
	ft := &recordTB{TB: t}
	n.CheckErrors(ft, before)
	if !ft.errored {
		t.Fatal("CheckErrors did not fail")
	}
}

func TestLinesAtLeast(t *testing.T) {
	log := strings.Join([]string{
		"2026/01/02 03:04:05 [info] 1#1: *1 client closed keepalive connection",
		"2026/01/02 03:04:05 [warn] 1#1: *2 a client request body is buffered to a temporary file",
		"2026/01/02 03:04:05 [error] 1#1: *3 upstream prematurely closed connection",
		"2026/01/02 03:04:05 [crit] 1#1: *4 something",
		"not a log line",
		"",
	}, "\n")
	for _, tt := range []struct {
		min  string
		want []int
	}{
		{"info", []int{0, 1, 2, 3}},
		{"warn", []int{1, 2, 3}},
		{"error", []int{2, 3}},
		{"emerg", nil},
		{"bogus", []int{2, 3}},
	} {
		lines := strings.Split(log, "\n")
		var want []string
		for _, i := range tt.want {
			want = append(want, lines[i])
		}
		if got := LinesAtLeast(log, tt.min); !reflect.DeepEqual(got, want) {
			t.Errorf("LinesAtLeast(%q) = %q, want %q", tt.min, got, want)
		}
	}
}

// recordTB records Skip and Fatal instead of stopping the test.
type recordTB struct {
	testing.TB
	skipped, fatal, errored bool
}

func (r *recordTB) Helper()               {}
func (r *recordTB) Skipf(string, ...any)  { r.skipped = true }
func (r *recordTB) Fatalf(string, ...any) { r.fatal = true }
func (r *recordTB) Errorf(string, ...any) { r.errored = true }

// Without nginx, Require skips, except under CI where it fails.
func TestRequireWithoutNginx(t *testing.T) {
	for _, tt := range []struct {
		ci              string
		skipped, failed bool
	}{
		{"", true, false},
		{"true", false, true},
	} {
		t.Setenv(EnvBinary, "/nonexistent/nginx")
		t.Setenv(EnvCI, tt.ci)
		r := &recordTB{TB: t}
		Require(r)
		if r.skipped != tt.skipped || r.fatal != tt.failed {
			t.Errorf("CI=%q: skipped %v, failed %v", tt.ci, r.skipped, r.fatal)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
