package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// wsgiPython is Debian's interpreter (it has flask and django); the tests
// fail under CI without it, and skip elsewhere.
func wsgiPython(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("/usr/bin/python3 is missing (.ci/run installs it)")
	}
	t.Skip("/usr/bin/python3 is missing")
	return ""
}

// wsgiApps is the directory of the WSGI test apps.
func wsgiApps(t *testing.T) string {
	return filepath.Join(proctest.ModuleRoot(t), "worker", "app", "wsgi", "testdata", "apps")
}

// wsgiRow is one way a request reaches the WSGI app.
type wsgiRow struct {
	name     string
	listener string // arbiter's listener: http, fastcgi, scgi, uwsgi
	server   string // nginx's location / body; "" = arbiter directly
	https    bool   // the front end says the client came over TLS
}

var wsgiRows = []wsgiRow{
	{name: "http", listener: "http"},
	{name: "nginx-fastcgi", listener: "fastcgi", server: `include /etc/nginx/fastcgi_params; fastcgi_pass {{up}};`},
	{name: "nginx-fastcgi-keepconn", listener: "fastcgi", server: `include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass {{ka}};`},
	{name: "nginx-fastcgi-https", listener: "fastcgi", https: true, server: `include /etc/nginx/fastcgi_params; fastcgi_param HTTPS on; fastcgi_pass {{up}};`},
	{name: "nginx-scgi", listener: "scgi", server: `include /etc/nginx/scgi_params; scgi_pass {{up}};`},
	{name: "nginx-uwsgi", listener: "uwsgi", server: `include /etc/nginx/uwsgi_params; uwsgi_pass {{up}};`},
	{name: "nginx-http", listener: "http", server: `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://{{ka}};`},
}

// TestWSGIEveryProtocol runs the conformance app under a real master, at
// the root and under a [[mount]] beside a static one, and reaches it over
// arbiter's own HTTP and through nginx over FastCGI (with and without
// keep-conn), SCGI, uwsgi and HTTP: the environ, a 1 MB upload, a streamed
// response and wsgi.file_wrapper come through each the same.
func TestWSGIEveryProtocol(t *testing.T) {
	py := wsgiPython(t)
	nginxtest.Require(t)
	addrs := map[string]string{}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "workers = 2\n")
	for _, p := range []string{"http", "fastcgi", "scgi", "uwsgi"} {
		addrs[p] = proctest.FreeAddr(t)
		fmt.Fprintf(&cfg, "[[listen]]\naddress = %q\nprotocol = %q\n", addrs[p], p)
	}
	fmt.Fprintf(&cfg, `
[app]
type = "wsgi"
module = "conformance"
python = %q
pythonpath = [%q]
processes = 2

[[mount]]
path = "/mnt"
type = "wsgi"
module = "conformance"
python = %q
pythonpath = [%q]
processes = 1

[[mount]]
path = "/files"
type = "static"
root = "{{dir}}/files"
`, py, wsgiApps(t), py, wsgiApps(t))
	f := newFixture(t, cfg.String())
	if err := os.MkdirAll(filepath.Join(f.dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(f.dir, "files", "a.txt"), []byte("static beside wsgi\n"), 0o644)
	download := filepath.Join(f.dir, "download.bin")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	_ = os.WriteFile(download, data, 0o644)
	f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg})
	f.srv.WaitMsg(0, 60*time.Second, "generation ready")

	// One nginx, a server block (own port) per row, so that every row's app
	// sees the same paths.
	var httpBlock strings.Builder
	httpBlock.WriteString("client_max_body_size 64m;\n")
	ports := map[string]string{}
	for _, row := range wsgiRows {
		if row.server == "" {
			continue
		}
		ka := "ka_" + strings.ReplaceAll(row.name, "-", "_")
		fmt.Fprintf(&httpBlock, "upstream %s { server %s; keepalive 4; }\n", ka, addrs[row.listener])
		ports[row.name] = proctest.FreeAddr(t)
		body := strings.NewReplacer("{{up}}", addrs[row.listener], "{{ka}}", ka).Replace(row.server)
		fmt.Fprintf(&httpBlock, "server { listen %s; location / { %s } }\n", ports[row.name], body)
	}
	ng := nginxtest.Start(t, nginxtest.Config{HTTP: httpBlock.String()})
	mark := ng.Mark()

	sum := sha256.Sum256(data)
	for _, row := range wsgiRows {
		t.Run(row.name, func(t *testing.T) {
			base := "http://" + addrs["http"]
			if row.server != "" {
				base = "http://" + ports[row.name]
			}
			get := func(path string, hdr ...string) (*http.Response, []byte) {
				t.Helper()
				req, _ := http.NewRequest("GET", base+path, nil)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				return resp, b
			}
			for _, tc := range []struct{ path, script, info string }{{"/environ", "", "/environ"}, {"/mnt/environ", "/mnt", "/environ"}} {
				_, b := get(tc.path+"?q=a%20b", "X-Test", "yes")
				var env map[string]any
				if err := json.Unmarshal(b, &env); err != nil {
					t.Fatalf("%s: %v: %s", tc.path, err, b)
				}
				scheme := "http"
				if row.https {
					scheme = "https"
				}
				for k, v := range map[string]any{"SCRIPT_NAME": tc.script, "PATH_INFO": tc.info, "QUERY_STRING": "q=a%20b",
					"REQUEST_METHOD": "GET", "HTTP_X_TEST": "yes", "wsgi.url_scheme": scheme, "wsgi.multiprocess": true} {
					if env[k] != v {
						t.Errorf("%s: %s = %#v, want %#v", tc.path, k, env[k], v)
					}
				}
			}
			resp, err := client.Post(base+"/body?chunks", "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				SHA256 string `json:"sha256"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if got.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("1 MiB upload: sha256 %q", got.SHA256)
			}
			if _, b := get("/stream?n=3&delay=0.05"); string(b) != "chunk 0\nchunk 1\nchunk 2\n" {
				t.Errorf("stream: %q", b)
			}
			if _, b := get("/file?" + download); !bytes.Equal(b, data) {
				t.Errorf("file_wrapper: %d bytes", len(b))
			}
			if resp, b := get("/files/a.txt"); resp.StatusCode != 200 || string(b) != "static beside wsgi\n" {
				t.Errorf("static mount: %d %q", resp.StatusCode, b)
			}
			if resp, _ := get("/bad/raise-before"); resp.StatusCode != 500 {
				t.Errorf("an app that raises: %d", resp.StatusCode)
			}
		})
	}
	ng.CheckErrors(t, mark)
	// The heartbeat carries the app processes to /status... via the log's
	// worker ready line; here, just that no process died.
	for _, e := range f.srv.Events() {
		if strings.Contains(e.Msg(), "app process died") {
			t.Errorf("an app process died: %v", e)
		}
	}
}

// TestWSGIReloadLoadsNewCode changes the app's file between HUPs: each HUP
// starts a worker whose processes import the new code, the answer changes
// with it, and no request of a keep-alive load fails, with preload and
// without.
func TestWSGIReloadLoadsNewCode(t *testing.T) {
	py := wsgiPython(t)
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			f := newFixture(t, fmt.Sprintf(`
workers = 1
[[listen]]
address = "{{addr}}"
[app]
type = "wsgi"
module = "versioned:application"
python = %q
processes = 2
preload = %v
`, py, preload))
			writeVersioned(t, f.dir, "v1")
			f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg})
			f.srv.WaitMsg(0, 60*time.Second, "generation ready")
			l := startLoad(t, f.addr, 6)
			l.waitOK(t, 100)
			for round := 2; round <= 3; round++ {
				v := "v" + strconv.Itoa(round)
				writeVersioned(t, f.dir, v)
				mark := f.srv.Count()
				f.srv.Signal(syscall.SIGHUP)
				f.srv.WaitEvent(mark, 60*time.Second, "generation "+strconv.Itoa(round)+" ready", func(e proctest.Event) bool {
					return e.Msg() == "generation ready" && e.Int("generation") == round
				})
				proctest.Eventually(t, 30*time.Second, "answers from "+v, func() bool {
					resp, err := client.Get("http://" + f.addr + "/")
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.Header.Get("X-Hello-Version") == v
				})
				n := l.ok.Load()
				l.waitOK(t, n+50)
			}
			l.check(t)
			for _, v := range []string{"v1", "v2", "v3"} {
				if l.versions[v] == 0 {
					t.Errorf("no answer from %s: %v", v, l.versions)
				}
			}
		})
	}
}

func writeVersioned(t *testing.T, dir, version string) {
	t.Helper()
	src := fmt.Sprintf(`
VERSION = %q

def application(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(n)
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Hello-Version", VERSION)])
    return [VERSION.encode()]
`, version)
	if err := os.WriteFile(filepath.Join(dir, "versioned.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "__pycache__"))
}

// TestWSGIProcessesAreTheWorkersAndOnlyThat: the app processes inherit no
// listener and no pipe to the master, show in /status, and die with their
// worker, even when it is killed.
func TestWSGIProcessesAreTheWorkersAndOnlyThat(t *testing.T) {
	py := wsgiPython(t)
	status := proctest.FreeAddr(t)
	f := start(t, fmt.Sprintf(`
workers = 1
[[listen]]
address = "{{addr}}"
[status]
address = %q
[app]
type = "wsgi"
module = "conformance"
python = %q
pythonpath = [%q]
processes = 2
`, status, py, wsgiApps(t)))
	worker := f.waitWorkers(1, 30*time.Second)[0]
	var pids []int
	proctest.Eventually(t, 30*time.Second, "two app processes in /status", func() bool {
		resp, err := client.Get("http://" + status + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var s struct {
			Workers []struct {
				Apps []struct {
					PID   int
					State string
				} `json:"app_processes"`
			}
		}
		if json.NewDecoder(resp.Body).Decode(&s) != nil || len(s.Workers) != 1 {
			return false
		}
		pids = pids[:0]
		for _, a := range s.Workers[0].Apps {
			if a.State == "idle" {
				pids = append(pids, a.PID)
			}
		}
		return len(pids) == 2
	})
	for _, pid := range pids {
		if p, _ := procfs.Stat(pid); p.PPID != worker {
			t.Errorf("app process %d: parent %d, want the worker %d", pid, p.PPID, worker)
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if strings.HasPrefix(target, "socket:") {
				if n, _ := strconv.Atoi(fd.Name()); n < 5 {
					t.Errorf("app process %d: fd %s is a socket (%s), where only its worker's sockets (5 and up) belong", pid, fd.Name(), target)
				}
			}
		}
		if out, _ := exec.Command("ss", "-lxtnp").Output(); strings.Contains(string(out), fmt.Sprintf("pid=%d,", pid)) {
			t.Errorf("app process %d holds a listening socket:\n%s", pid, out)
		}
	}
	resp, err := client.Get("http://" + status + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `arbiter_app_processes{state="idle"} 2`) {
			t.Errorf("/metrics has no app processes:\n%s", b)
		}
	}
	_ = syscall.Kill(worker, syscall.SIGKILL)
	for _, pid := range pids {
		proctest.Eventually(t, 30*time.Second, fmt.Sprintf("app process %d gone with its worker", pid), func() bool { return !proctest.Alive(pid) })
	}
	f.waitWorkers(1, 30*time.Second)
}

// TestWSGIAppThatDoesNotImportHalts: a boot failure with the traceback in
// the log, the usual back-off, then the master halts with code 4; arbiter
// check says the same before anything starts, at the module's line.
func TestWSGIAppThatDoesNotImportHalts(t *testing.T) {
	py := wsgiPython(t)
	f := newFixture(t, fmt.Sprintf(`
workers = 1
max_boot_failures = 2
[[listen]]
address = "{{addr}}"
[app]
type = "wsgi"
module = "broken_app"
python = %q
`, py))
	_ = os.WriteFile(filepath.Join(f.dir, "broken_app.py"), []byte("import os\nraise ImportError('the app needs a database driver')\n"), 0o644)
	bin := proctest.Build(t, "./cmd/arbiter")
	out, code := runCLI(t, bin, nil, "check", f.cfg)
	if code != 5 || !strings.Contains(out, "app.toml:8:10: app.module: cannot import \"broken_app\": ImportError: the app needs a database driver") ||
		!strings.Contains(out, "broken_app.py\", line 2") {
		t.Errorf("check: exit %d:\n%s", code, out)
	}
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg})
	if code := f.srv.Wait(60 * time.Second); code != 4 {
		t.Errorf("exit code %d, want 4", code)
	}
	e, _ := f.srv.WaitEvent(0, time.Second, "the traceback in the log", func(e proctest.Event) bool {
		return strings.HasPrefix(e.Msg(), "the WSGI app did not load")
	})
	if !strings.Contains(e.Str("traceback"), "broken_app.py") {
		t.Errorf("no traceback in %v", e)
	}
}
