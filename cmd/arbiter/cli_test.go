package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

func runCLI(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestCheck(t *testing.T) {
	bin := proctest.Build(t, "./cmd/arbiter")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("workers = 3\n[[listen]]\naddress = \"127.0.0.1:9\"\n"), 0o644)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(`workers = 0
timeout = "soon"
[[listen]]
address = "127.0.0.1:8000"
protocol = "gopher"
[[listen]]
adress = "x"
[app]
type = "go"
`), 0o644)

	out, code := runCLI(t, bin, nil, "check", good)
	if code != 0 || !strings.Contains(out, "OK: 3 workers") {
		t.Fatalf("check good: %d %s", code, out)
	}
	out, code = runCLI(t, bin, nil, "check", bad)
	if code != 5 {
		t.Fatalf("check bad: exit %d, want 5\n%s", code, out)
	}
	for _, want := range []string{"bad.toml:1:11: workers", "bad.toml:2:11: timeout", "bad.toml:5:12: listen[0].protocol",
		"bad.toml:7:1: listen[1].adress"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	// A "go" app needs a handler compiled in, which the stock binary lacks.
	gotype := filepath.Join(dir, "go.toml")
	os.WriteFile(gotype, []byte("[app]\ntype = \"go\"\n"), 0o644)
	if out, code := runCLI(t, bin, nil, "check", gotype); code != 5 || !strings.Contains(out, "app.type") {
		t.Errorf("check go.toml: %d %s", code, out)
	}
	// run refuses the same file with the same code, before binding anything.
	if _, code := runCLI(t, bin, nil, "run", bad); code != 5 {
		t.Errorf("run bad: exit %d", code)
	}
	// Flags are checked too, and WEB_CONCURRENCY is the default worker count.
	if out, code := runCLI(t, bin, nil, "check", "--bind", "nonsense"); code != 5 || !strings.Contains(out, "--bind") {
		t.Errorf("check --bind nonsense: %d %s", code, out)
	}
	if out, code := runCLI(t, bin, []string{"WEB_CONCURRENCY=7"}, "check"); code != 0 || !strings.Contains(out, "7 workers") {
		t.Errorf("WEB_CONCURRENCY: %d %s", code, out)
	}
	if out, code := runCLI(t, bin, []string{"WEB_CONCURRENCY=7"}, "check", "--workers", "4", good); code != 0 || !strings.Contains(out, "4 workers") {
		t.Errorf("--workers: %d %s", code, out)
	}
	if out, code := runCLI(t, bin, []string{"PORT=9123"}, "check"); code != 0 || !strings.Contains(out, "0.0.0.0:9123") {
		t.Errorf("PORT: %d %s", code, out)
	}
	// Usage errors exit 2; --help works on every command.
	if _, code := runCLI(t, bin, nil, "run", "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
	for _, c := range []string{"run", "check", "signal"} {
		if out, code := runCLI(t, bin, nil, c, "--help"); code != 0 || !strings.Contains(out, "USAGE") {
			t.Errorf("%s --help: %d %s", c, code, out)
		}
	}
}

// A listener that cannot be bound stops the start with exit code 6, and a
// worker command run by hand (no boot document) exits with 3.
func TestBindErrorAndStrayWorker(t *testing.T) {
	bin := proctest.Build(t, "./cmd/arbiter")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, code := runCLI(t, bin, nil, "run", "--bind", l.Addr().String())
	if code != 6 || !strings.Contains(out, "address already in use") {
		t.Fatalf("run on a busy port: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, bin, nil, "worker"); code != 3 || !strings.Contains(out, "ARBITER_WORKER") {
		t.Fatalf("worker without a boot document: exit %d\n%s", code, out)
	}
}

// --bind overrides the config's listeners, the signal command finds the
// master through the pidfile, and several listeners (TCP and unix) serve
// at once.
func TestBindSignalAndUnixListener(t *testing.T) {
	bin := proctest.Build(t, "./cmd/arbiter")
	f := newFixture(t, `
workers = 1
pidfile = "{{dir}}/a.pid"
[[listen]]
address = "{{addr}}"
[[listen]]
address = "unix:{{dir}}/a.sock"
mode = "0660"
`)
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg})
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	f.get("/tcp")
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(f.dir, "a.sock"))
	}}}
	resp, err := uc.Get("http://unix/over-unix")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"path":"/over-unix"`) {
		t.Fatalf("unix listener reply %s", body)
	}
	fi, _ := os.Stat(filepath.Join(f.dir, "a.sock"))
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v", fi.Mode())
	}
	if out, code := runCLI(t, bin, nil, "signal", "--pidfile", filepath.Join(f.dir, "a.pid"), "TERM"); code != 0 {
		t.Fatalf("signal: %d %s", code, out)
	}
	if code := f.srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "a.sock")); !os.IsNotExist(err) {
		t.Errorf("unix socket file left behind")
	}

	// --bind replaces the file's listeners.
	addr := proctest.FreeAddr(t)
	s := proctest.Start(t, bin, []string{"run", "--bind", addr, "--workers", "1", f.cfg})
	s.WaitMsg(0, 30*time.Second, "generation ready")
	if _, err := client.Get("http://" + f.addr + "/"); err == nil {
		t.Error("the config's listener is bound despite --bind")
	}
	resp, err = client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.Signal(syscall.SIGTERM)
	s.Wait(15 * time.Second)
}

// gunicorn's request limits: an over-long request line gets 414, too many
// or too large header fields get 431, and the worker keeps serving.
func TestRequestLimits(t *testing.T) {
	f := start(t, `
workers = 1
limit_request_line = 200
limit_request_fields = 10
limit_request_field_size = 100
[[listen]]
address = "{{addr}}"
`)
	tests := []struct {
		name string
		req  string
		want int
	}{
		{"line", "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 11) + "\r\n", 431},
		{"field size", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 120) + "\r\n\r\n", 431},
		{"fine", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 5) + "\r\n", 200},
	}
	for _, tt := range tests {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, tt.req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

// A keep-alive connection open when its worker drains is ended at a request
// boundary: the next response says Connection: close, and no request on it
// fails.
func TestDrainEndsKeepAliveAtRequestBoundary(t *testing.T) {
	f := start(t, `
workers = 1
keepalive = "5s"
graceful_timeout = "10s"
[[listen]]
address = "{{addr}}"
`)
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func() *http.Response {
		fmt.Fprint(c, "GET /k HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request on the kept connection: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := ask(); r.Close {
		t.Fatal("first response closed the connection")
	}
	f.srv.Signal(syscall.SIGTTIN) // a second worker, so TTOU can retire the first
	f.waitWorkers(2, 10*time.Second)
	f.srv.WaitEvent(0, 10*time.Second, "second worker ready", func(e proctest.Event) bool {
		return e.Msg() == "worker ready" && e.Int("worker") == 2
	})
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGTTOU) // retires worker 1, which holds our connection
	f.srv.WaitMsg(mark, 10*time.Second, "retiring worker")
	// The worker drains once the master's message reaches it: until then
	// its responses keep the connection; from then on the next one closes it.
	deadline := time.Now().Add(10 * time.Second)
	for r := ask(); !r.Close; r = ask() {
		if time.Now().After(deadline) {
			t.Fatal("no response during the drain has Connection: close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after the last response: %v", err)
	}
}
