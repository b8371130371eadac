package cgi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// sleeper writes its pid (the group's id) and its grandchild's pid, then
// sleeps.
var sleeper = sleeperPrinting("")

// sleeperPrinting is sleeper that prints out (with printf %b) before it
// sleeps.
func sleeperPrinting(out string) string {
	return "#!/bin/sh\nsleep 60 &\necho $! > {{dir}}/grandchild.pid\necho $$ > {{dir}}/leader.pid\nprintf '%b' '" +
		out + "'\nsleep 60\n"
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	f := newFixture(t, Config{Timeout: 300 * time.Millisecond}, map[string]string{"sleep.sh": sleeper})
	w := f.get("/sleep.sh")
	if w.Code != http.StatusGatewayTimeout || w.Body.String() != "Gateway Timeout\n" {
		t.Fatalf("got %d %q, want 504", w.Code, w.Body)
	}
	leader, grandchild := readPid(t, f.dir+"/leader.pid"), readPid(t, f.dir+"/grandchild.pid")
	waitGroupGone(t, leader)
	if processAlive(grandchild) {
		t.Errorf("grandchild %d survived the timeout", grandchild)
	}
	e := f.waitLog("cgi timeout", nil)
	if e["script"] != f.root+"/sleep.sh" {
		t.Errorf("timeout log %v", e)
	}
	f.waitLog("cgi exit", func(e map[string]any) bool { return e["killed"] == "timeout" && e["exit"] == "signal SIGKILL" })
}

// TestTimeoutAfterHeaders: once the response has begun, a timeout aborts
// it so that the client sees it cut off.
func TestTimeoutAfterHeaders(t *testing.T) {
	f := newFixture(t, Config{Timeout: 300 * time.Millisecond}, map[string]string{
		"sleep.sh": sleeperPrinting(`Content-Type: text/plain\n\npartial`),
	})
	srv := f.serve()
	resp, err := http.Get(srv.URL + "/sleep.sh")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "partial" || err == nil {
		t.Fatalf("got %d %q, %v; want 200, \"partial\" and a read error", resp.StatusCode, body, err)
	}
	waitGroupGone(t, readPid(t, f.dir+"/leader.pid"))
	f.waitLog("cgi output cut short; response aborted", func(e map[string]any) bool { return e["killed"] == "timeout" })
}

func TestClientGoneKillsTheGroup(t *testing.T) {
	f := newFixture(t, Config{Timeout: time.Minute}, map[string]string{"sleep.sh": sleeper})
	srv := f.serve()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/sleep.sh", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	leader, grandchild := readPid(t, f.dir+"/leader.pid"), readPid(t, f.dir+"/grandchild.pid")
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request succeeded")
	}
	waitGroupGone(t, leader)
	if processAlive(grandchild) {
		t.Errorf("grandchild %d survived", grandchild)
	}
	f.waitLog("cgi exit", func(e map[string]any) bool { return e["killed"] == "client gone" })
}

// A client that hangs up once it has the whole response does not get a
// script that is still exiting (an interpreter's teardown) killed and
// logged as a failure.
func TestClientGoneAfterOutputIsNoFailure(t *testing.T) {
	f := newFixture(t, Config{Timeout: time.Minute}, map[string]string{
		// stdout stays open until the script exits, as with an
		// interpreter that tears down after its last write.
		"slowexit.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 2\\n\\nok'\nsleep 0.3\n",
	})
	srv := f.serve()
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/slowexit.sh")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections() // the client hangs up while the script still runs
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	e := f.waitLog("cgi exit", func(map[string]any) bool { return true })
	if e["killed"] != nil || e["exit"] != "0" || e["level"] != "debug" {
		t.Fatalf("a complete run was logged as %v", e)
	}
}

// TestExitLogsCPU: the exit line carries the script's CPU time (wait4's
// rusage), which a busy loop makes well above zero, and its wall time.
func TestExitLogsCPU(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"busy.sh": "#!/bin/sh\ni=0\nwhile [ $i -lt 100000 ]; do i=$((i+1)); done\nprintf 'Content-Type: text/plain\\n\\n%s' $i\n",
	})
	if w := f.get("/busy.sh"); w.Code != 200 || w.Body.String() != "100000" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	e := f.waitLog("cgi exit", func(map[string]any) bool { return true })
	cpu, _ := e["cpu"].(float64)
	wall, _ := e["duration"].(float64)
	if cpu < 5 || wall < cpu*0.9 {
		t.Fatalf("exit line %v: want cpu >= 5 ms and duration >= cpu", e)
	}
}

// TestGrandchildHoldsStdout: the script exits but leaves a process holding
// its stdout; the output never ends, so the time limit applies, and kills
// the one left behind.
func TestGrandchildHoldsStdout(t *testing.T) {
	f := newFixture(t, Config{Timeout: 500 * time.Millisecond}, map[string]string{
		"bg.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfirst'\nsleep 60 &\necho $! > {{dir}}/grandchild.pid\nexit 0\n",
	})
	srv := f.serve()
	resp, err := http.Get(srv.URL + "/bg.sh")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "first" || err == nil {
		t.Errorf("body %q, %v; want \"first\" cut off", body, err)
	}
	gc := readPid(t, f.dir+"/grandchild.pid")
	proctest.Eventually(t, 5*time.Second, "the grandchild to die", func() bool { return !processAlive(gc) })
}

// TestLinger: a script that closes stdout and keeps running is ended after
// the grace period (SIGTERM), and the response is complete before that.
func TestLinger(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"linger.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 2\\n\\nok'\nexec >&-\necho $$ > {{dir}}/leader.pid\nsleep 60\n",
	})
	w := f.get("/linger.sh")
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	waitGroupGone(t, readPid(t, f.dir+"/leader.pid"))
	f.waitLog("cgi exit", func(e map[string]any) bool { return e["killed"] == "still running after its output ended" })
}

// hashScript reports CONTENT_LENGTH, the number of bytes on stdin and
// their SHA-256.
const hashScript = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s ' \"${CONTENT_LENGTH-unset}\"\nsha256sum | cut -d' ' -f1\n"

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestUploads(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"hash.sh":   hashScript,
		"ignore.sh": printScript(`Content-Type: text/plain\n\nignored`, ""),
		// Never reads stdin, and only answers once the upload is stuck.
		"late.sh": "#!/bin/sh\nsleep 0.3\nprintf 'Content-Type: text/plain\\n\\nlate'\n",
	})
	srv := f.serve()
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16) // 10 MiB
	small := []byte("hello, chunked world")
	mid := bytes.Repeat([]byte("x"), 300<<10) // spooled to a file

	tests := []struct {
		name    string
		path    string
		body    []byte
		chunked bool
		want    string
	}{
		{"10 MB read", "/hash.sh", big, false, fmt.Sprintf("%d %s\n", len(big), sum(big))},
		{"10 MB never read", "/ignore.sh", big, false, "ignored"},
		{"10 MB never read, late answer", "/late.sh", big, false, "late"},
		{"chunked small", "/hash.sh", small, true, fmt.Sprintf("%d %s\n", len(small), sum(small))},
		{"chunked spooled to a file", "/hash.sh", mid, true, fmt.Sprintf("%d %s\n", len(mid), sum(mid))},
		{"chunked empty", "/hash.sh", nil, true, "0 " + sum(nil) + "\n"},
		{"chunked never read", "/ignore.sh", mid, true, "ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: the client sends it chunked
			}
			req, _ := http.NewRequest("POST", srv.URL+tt.path, body)
			if !tt.chunked {
				req.ContentLength = int64(len(tt.body))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != tt.want {
				t.Errorf("got %d %q, want %q", resp.StatusCode, got, tt.want)
			}
		})
	}

	// The same through a ResponseRecorder: the body is an in-memory
	// reader the handler cannot interrupt.
	r := httptest.NewRequest("POST", "/ignore.sh", bytes.NewReader(big))
	if w := f.do(r); w.Code != 200 || w.Body.String() != "ignored" {
		t.Errorf("recorder: got %d %q", w.Code, w.Body)
	}
}

func TestMalformedChunkedBody(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{"hash.sh": hashScript})
	srv := f.serve()
	out := rawRequest(t, srv, "POST /hash.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Errorf("got %q, want 400", out)
	}
}

func TestNPH(t *testing.T) {
	nph := "#!/bin/sh\nprintf 'HTTP/1.1 299 Custom Reason\\r\\nX-Raw: yes\\r\\nConnection: keep-alive\\r\\nContent-Length: 5\\r\\n\\r\\nhello'\n"
	f := newFixture(t, Config{}, map[string]string{
		"nph-raw.sh":     nph,
		"nph-bad.sh":     printScript(`Content-Type: text/plain\n\nnot a status line`, ""),
		"nph-empty.sh":   printScript(``, ""),
		"nph-chunked.sh": "#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3\\r\\nabc\\r\\n0\\r\\n\\r\\n'\n",
		"nph-099.sh":     "#!/bin/sh\nprintf 'HTTP/1.1 099 Low\\r\\n\\r\\n'\n",
		"nph-post.sh":    "#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\n\\r\\n'\ncat\n",
	})
	srv := f.serve()

	// Over HTTP the bytes go out as the script wrote them, and the
	// connection closes after them.
	out := rawRequest(t, srv, "GET /nph-raw.sh HTTP/1.1\r\nHost: x\r\n\r\n")
	if want := "HTTP/1.1 299 Custom Reason\r\nX-Raw: yes\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello"; out != want {
		t.Errorf("raw nph: got %q, want %q", out, want)
	}
	out = rawRequest(t, srv, "POST /nph-post.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
	if want := "HTTP/1.0 200 OK\r\n\r\nbody"; out != want {
		t.Errorf("nph with a body: got %q, want %q", out, want)
	}
	for _, p := range []string{"/nph-bad.sh", "/nph-empty.sh"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Errorf("%s: status %d, want 502", p, resp.StatusCode)
		}
	}

	// Without hijacking (FastCGI, SCGI, uwsgi), the response is parsed.
	w := f.get("/nph-raw.sh")
	if w.Code != 299 || w.Header().Get("X-Raw") != "yes" || w.Header().Get("Connection") != "" || w.Body.String() != "hello" {
		t.Errorf("parsed nph: %d %v %q", w.Code, w.Header(), w.Body)
	}
	if w := f.get("/nph-chunked.sh"); w.Code != 200 || w.Body.String() != "abc" {
		t.Errorf("parsed chunked nph: %d %q", w.Code, w.Body)
	}
	if w := f.do(httptest.NewRequest("HEAD", "/nph-raw.sh", nil)); w.Code != 299 || w.Body.Len() != 0 {
		t.Errorf("parsed nph HEAD: %d %q", w.Code, w.Body)
	}
	for _, p := range []string{"/nph-bad.sh", "/nph-099.sh", "/nph-empty.sh"} {
		if w := f.get(p); w.Code != 502 {
			t.Errorf("parsed %s: status %d, want 502", p, w.Code)
		}
	}
}

func TestMaxScripts(t *testing.T) {
	f := newFixture(t, Config{MaxScripts: 1, MaxScriptsWait: 50 * time.Millisecond}, map[string]string{
		"wait.sh": "#!/bin/sh\necho $$ > {{dir}}/leader.pid\nwhile [ ! -e {{dir}}/go ]; do sleep 0.02; done\nprintf 'Content-Type: text/plain\\n\\ndone'\n",
		"fast.sh": printScript(`Content-Type: text/plain\n\nfast`, ""),
	})
	srv := f.serve()
	first := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/wait.sh")
		if err != nil {
			first <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first <- string(b)
	}()
	readPid(t, f.dir+"/leader.pid")
	resp, err := http.Get(srv.URL + "/fast.sh")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("second script: %d %v, want 503 with Retry-After", resp.StatusCode, resp.Header)
	}
	f.waitLog("cgi busy: no free script slot", nil)
	// A request that waits gets the slot when it comes free in time.
	second := make(chan int, 1)
	f.h.wait = 5 * time.Second
	go func() {
		resp, err := http.Get(srv.URL + "/fast.sh")
		if err != nil {
			second <- 0
			return
		}
		resp.Body.Close()
		second <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	if err := os.WriteFile(f.dir+"/go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := <-first; got != "done" {
		t.Errorf("first script: %q", got)
	}
	if got := <-second; got != 200 {
		t.Errorf("waiting request: status %d, want 200", got)
	}
}

// TestNoFDLeak checks both sides: a script sees no descriptor but 0, 1 and
// 2, even one the worker inherited without close-on-exec; and serving many
// requests of every outcome leaves the worker with as many as before.
func TestNoFDLeak(t *testing.T) {
	// A descriptor inherited without FD_CLOEXEC, as from a careless parent.
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])

	const lsfd = "import os\nprint('Content-Type: text/plain\\n')\nfor fd in range(1024):\n    try:\n        os.fstat(fd)\n        print(fd)\n    except OSError:\n        pass\n"
	f := newFixture(t, Config{
		Interpreters: map[string]string{".py": "/usr/bin/python3"},
		// Long enough for python3 to start under -race on a loaded
		// machine (200 ms was not): only sleep.sh is meant to time out.
		Timeout:        time.Second,
		MaxScripts:     2,
		MaxScriptsWait: time.Millisecond,
	}, map[string]string{
		"fds.py":    lsfd,
		"sh-fds.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec ls /proc/self/fd\n",
		"ok.sh":     printScript(`Content-Type: text/plain\n\nok`, ""),
		"bad.sh":    printScript(`nonsense`, ""),
		"sleep.sh":  sleeper,
		"nph-x.sh":  "#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\n\\r\\nnph'\n",
		"redir.sh":  printScript(`Location: /ok.sh\n\n`, ""),
		"chunk.sh":  hashScript,
		"noexec.sh": "executable, but not a program: execve fails with ENOEXEC\n",
	})
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	srv := f.serve()
	get := func(path string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, out := get("/fds.py", nil); code != 200 || strings.Fields(out)[0] != "0" || strings.Join(strings.Fields(out), " ") != "0 1 2" {
		t.Errorf("python sees fds %q (status %d), want 0 1 2", out, code)
	}
	// ls lists its own directory handle (3) too.
	if code, out := get("/sh-fds.sh", nil); code != 200 || strings.Join(strings.Fields(out), " ") != "0 1 2 3" {
		t.Errorf("ls sees fds %q (status %d), want 0 1 2 3", out, code)
	}

	// /noexec.sh fails to start, with and without a body to feed.
	paths := []string{"/ok.sh", "/bad.sh", "/sleep.sh", "/nph-x.sh", "/redir.sh", "/missing.sh", "/chunk.sh", "/noexec.sh"}
	if code, _ := get("/noexec.sh", nil); code != http.StatusInternalServerError {
		t.Errorf("a script that cannot be executed: status %d, want 500", code)
	}
	serve := func(i int) {
		var body io.Reader
		if i%2 == 0 {
			body = io.MultiReader(strings.NewReader(strings.Repeat("b", i*1000))) // chunked
		}
		get(paths[i%len(paths)], body)
	}
	for i := range len(paths) {
		serve(i) // warm up
	}
	http.DefaultClient.CloseIdleConnections()
	srv.CloseClientConnections()
	// No garbage collection from here: an *os.File dropped without Close
	// would be closed by its finalizer and hide the leak.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	before := proctest.FDs(os.Getpid())
	for i := range 70 {
		serve(i)
	}
	http.DefaultClient.CloseIdleConnections()
	srv.CloseClientConnections()
	proctest.Eventually(t, 5*time.Second, fmt.Sprintf("fds back to %d", before), func() bool {
		return proctest.FDs(os.Getpid()) <= before
	})
}

// TestNoZombies: every script is reaped, whatever became of it.
func TestNoZombies(t *testing.T) {
	f := newFixture(t, Config{Timeout: 200 * time.Millisecond}, map[string]string{
		"ok.sh":    printScript(`Content-Type: text/plain\n\nok`, ""),
		"fail.sh":  printScript(``, "exit 7"),
		"sleep.sh": sleeper,
		"crash.sh": "#!/bin/sh\nkill -SEGV $$\n",
	})
	srv := f.serve()
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := []string{"/ok.sh", "/fail.sh", "/sleep.sh", "/crash.sh"}[i%4]
			resp, err := http.Get(srv.URL + p)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	// A response can reach the client just before its script is reaped.
	proctest.Eventually(t, 5*time.Second, "no children, zombie or not", func() bool {
		return len(proctest.Zombies(os.Getpid())) == 0 && len(proctest.Children(os.Getpid())) == 0
	})
	f.waitLog("cgi exit", func(e map[string]any) bool { return e["exit"] == "signal SIGSEGV" })
	f.waitLog("cgi exit", func(e map[string]any) bool { return e["exit"] == "7" })
}

func TestStderr(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"err.sh":   "#!/bin/sh\necho 'first problem' >&2\nprintf 'Content-Type: text/plain\\n\\nok'\necho 'second problem' >&2\n",
		"flood.sh": "#!/bin/sh\ni=0\nwhile [ $i -lt 3000 ]; do echo \"line $i of a long flood on stderr\" >&2; i=$((i+1)); done\nprintf 'Content-Type: text/plain\\n\\nsurvived'\n",
	})
	if w := f.get("/err.sh"); w.Body.String() != "ok" {
		t.Fatalf("got %q", w.Body)
	}
	for _, line := range []string{"first problem", "second problem"} {
		e := f.waitLog("cgi stderr", func(e map[string]any) bool { return e["stderr"] == line })
		if e["script"] != f.root+"/err.sh" || e["pid"] == nil || e["level"] != "warn" {
			t.Errorf("stderr event %v", e)
		}
	}
	if w := f.get("/flood.sh"); w.Body.String() != "survived" {
		t.Fatalf("got %q", w.Body)
	}
	e := f.waitLog("cgi stderr: more than 100 lines; the rest was not logged", nil)
	if n, _ := e["bytes"].(float64); n < 2900*30 {
		t.Errorf("dropped %v bytes", e["bytes"])
	}
	if n := len(f.logEvents("cgi stderr")); n != 2+maxStderrLines {
		t.Errorf("%d stderr lines logged, want 2 + %d", n, maxStderrLines)
	}
}

func TestClose(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{"sleep.sh": sleeper})
	done := make(chan int)
	go func() { done <- f.get("/sleep.sh").Code }()
	leader := readPid(t, f.dir+"/leader.pid")
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 503 {
		t.Errorf("running request: status %d, want 503", code)
	}
	waitGroupGone(t, leader)
	if code := f.get("/sleep.sh").Code; code != 503 {
		t.Errorf("request after Close: status %d, want 503", code)
	}
}

// TestShortBody: a script that declares more than it writes leaves the
// client with a short body it can detect.
func TestShortBody(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"short.sh": printScript(`Content-Type: text/plain\nContent-Length: 10\n\nhello`, ""),
	})
	srv := f.serve()
	resp, err := http.Get(srv.URL + "/short.sh")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("read %q without an error", b)
	}
}

// TestStreaming: output is flushed as the script writes it.
func TestStreaming(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"stream.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfirst\\n'\nwhile [ ! -e {{dir}}/go ]; do sleep 0.02; done\necho second\n",
	})
	srv := f.serve()
	resp, err := http.Get(srv.URL + "/stream.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "second\n" {
		t.Errorf("rest %q", rest)
	}
}

// A body cut short (the client stops sending before Content-Length, or in
// a chunk) kills the script before its stdin ends, whether it answers
// before reading (the response is cut off) or after (400): it never
// answers the part it got as if it were the whole body, nor sends the
// half-closed client an empty 200 when net/http takes it for gone.
func TestCutBodyKillsTheScript(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"first.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\ncat\n",
		"after.sh": "#!/bin/sh\nbody=$(cat)\nprintf 'Content-Type: text/plain\\n\\n%s' \"$body\"\n",
	})
	srv := f.serve()
	for _, tt := range []struct{ script, head, body string }{
		{"first.sh", "Content-Length: 100", "hello"},
		{"after.sh", "Content-Length: 100", "hello"},
		{"first.sh", "Transfer-Encoding: chunked", "400\r\nhello"}, // spooled first
	} {
		script := tt.script
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST /"+script+" HTTP/1.1\r\nHost: x\r\n"+tt.head+"\r\n\r\n"+tt.body)
		c.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 && rerr == nil {
				t.Errorf("%s: a whole %d response %q to a cut body", script, resp.StatusCode, b)
			}
		}
		c.Close()
	}
}

// slow_request_log logs a script still running, once, with its path and
// pid, while it runs; the script goes on.
func TestSlowLog(t *testing.T) {
	f := newFixture(t, Config{Timeout: time.Minute, SlowLog: 100 * time.Millisecond}, map[string]string{
		"gate.sh": "#!/bin/sh\necho $$ > {{dir}}/leader.pid\nwhile [ ! -e {{dir}}/open ]; do sleep 0.02; done\nprintf 'Content-Type: text/plain\\n\\nok'\n",
	})
	srv := f.serve()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/gate.sh")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	e := f.waitLog("slow request", nil)
	if e["script"] != f.root+"/gate.sh" || int(e["pid"].(float64)) != readPid(t, f.dir+"/leader.pid") || e["elapsed"] == nil {
		t.Errorf("slow log %v", e)
	}
	if err := os.WriteFile(f.dir+"/open", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b != "ok" {
		t.Fatalf("reply %q", b)
	}
	if n := len(f.logEvents("slow request")); n != 1 {
		t.Errorf("%d slow request lines, want 1", n)
	}
}
