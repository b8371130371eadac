package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// TestExampleWSGI runs examples/wsgi as its README does: arbiter with its
// app.toml and nginx with its nginx.conf, every address replaced by a free
// one. The Flask app's routes and the image resize mounted at /resize
// answer the same over arbiter's HTTP and through nginx over uwsgi and
// FastCGI, each with the environ of its path (SCRIPT_NAME, the port the
// client connected to); the article's client.py works against each; the
// mounts' max_body_size answer 413. A graceful stop then leaves no process
// of the example behind: not the worker, not an app process or zygote.
func TestExampleWSGI(t *testing.T) {
	testutil.CheckGoroutines(t)
	requireFlaskAndPIL(t)
	src := exampleDir(t, "wsgi")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	// app.toml's relative pythonpath, as next to the example's own copy.
	for _, app := range []string{"flaskapp", "imageresize"} {
		if err := os.Symlink(filepath.Join(src, app), filepath.Join(dir, app)); err != nil {
			t.Fatal(err)
		}
	}
	// The example's addresses, and the test's in their place.
	arb := map[string]string{"http": "127.0.0.1:8000", "uwsgi": "127.0.0.1:9002", "fastcgi": "127.0.0.1:9000"}
	front := map[string]string{"uwsgi": "127.0.0.1:8080", "fastcgi": "127.0.0.1:8081"}
	free, appSubst, nginxSubst := exampleAddrs(t, arb, front)
	copySubst(t, filepath.Join(src, "app.toml"), filepath.Join(dir, "app.toml"), appSubst...)

	// No __pycache__ in the source tree from the test's imports.
	srv := proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", filepath.Join(dir, "app.toml")}, "PYTHONDONTWRITEBYTECODE=1")
	srv.WaitMsg(0, 60*time.Second, "generation ready")
	logFrom := srv.Count()

	nginxUp := startExampleNginx(t, src, dir, nginxSubst, free[front["uwsgi"]], free[front["fastcgi"]])

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	hosts := map[string]string{"http": free[arb["http"]]}
	for proto, addr := range front {
		hosts[proto] = free[addr]
	}
	appPIDs := map[int]bool{}
	for _, proto := range []string{"http", "uwsgi", "fastcgi"} {
		t.Run(proto, func(t *testing.T) {
			if proto != "http" && !nginxUp {
				nginxtest.Require(t) // skips, or fails under CI
			}
			base := "http://" + hosts[proto]
			if code, body := getBody(t, c, base+"/"); code != 200 || !strings.Contains(body, "<h1>Flask on arbiter</h1>") {
				t.Errorf("GET /: %d %s", code, body)
			}
			info := flaskInfo(t, c, base+"/info?x=1")
			_, port, _ := net.SplitHostPort(hosts[proto])
			for k, want := range map[string]any{"script_name": "", "path_info": "/info", "query_string": "x=1",
				"remote_addr": "127.0.0.1", "url_scheme": "http", "server_port": port,
				"url": base + "/info?x=1", "index_url": base + "/",
				"multiprocess": true, "multithread": true} {
				if info[k] != want {
					t.Errorf("/info: %s = %#v, want %#v", k, info[k], want)
				}
			}
			pid, _ := info["pid"].(float64)
			if p, ok := procfs.Stat(int(pid)); !ok || !contains(proctest.Children(srv.PID), p.PPID) {
				t.Errorf("/info: pid %v is not an app process of a worker of the master %d (%+v)", info["pid"], srv.PID, p)
			}
			appPIDs[int(pid)] = true

			form := "application/x-www-form-urlencoded"
			if code, _, b := post(t, c, base+"/greet", form, []byte("name=%3CAda%3E")); code != 200 || !strings.Contains(string(b), "<h1>Hello, &lt;Ada&gt;!</h1>") {
				t.Errorf("POST /greet: %d %s", code, b)
			}
			if code, _, b := post(t, c, base+"/greet", form, []byte("name=")); code != 400 || !strings.Contains(string(b), "Your name, please.") {
				t.Errorf("POST /greet without a name: %d %s", code, b)
			}

			if code, body := getBody(t, c, base+"/resize/"); code != 200 || !strings.Contains(body, `<form method="post" action="/resize/" enctype="multipart/form-data">`) {
				t.Errorf("GET /resize/: %d %s", code, body)
			}
			img, ctype := imageForm(t, whitePNG(t, 400, 400))
			code, typ, body := post(t, c, base+"/resize/", ctype, img)
			if code != 200 || typ != "image/png" {
				t.Fatalf("POST /resize/: %d %s: %.300s", code, typ, body)
			}
			checkResized(t, body)
			notImage, nctype := imageForm(t, []byte("hello, world"))
			if code, _, b := post(t, c, base+"/resize/", nctype, notImage); code != 400 || !strings.Contains(string(b), "not an image") {
				t.Errorf("not an image: %d %s", code, b)
			}
			if code, _, b := post(t, c, base+"/resize/", "text/plain", []byte("x")); code != 400 || !strings.Contains(string(b), "want multipart/form-data") {
				t.Errorf("not a form: %d %s", code, b)
			}
		})
	}
	t.Run("max_body_size", func(t *testing.T) {
		for _, proto := range []string{"http", "fastcgi"} {
			if proto != "http" && !nginxUp {
				nginxtest.Require(t)
			}
			base := "http://" + hosts[proto]
			// [app]'s 1 MiB, and the mount's 20 MiB, which nginx.conf's
			// client_max_body_size lets through.
			greet := append([]byte("name="), bytes.Repeat([]byte("a"), 1<<20)...)
			if code, _, b := post(t, c, base+"/greet", "application/x-www-form-urlencoded", greet); code != 413 || !strings.Contains(string(b), "request body too large") {
				t.Errorf("%s: a form over 1 MiB: %d %.200s", proto, code, b)
			}
			big, bctype := imageForm(t, make([]byte, 20<<20))
			if code, _, b := post(t, c, base+"/resize/", bctype, big); code != 413 || !strings.Contains(string(b), "request body too large") {
				t.Errorf("%s: an upload over 20 MiB: %d %.200s", proto, code, b)
			}
		}
	})
	t.Run("client.py", func(t *testing.T) {
		python := requirePython(t)
		for _, proto := range []string{"http", "uwsgi", "fastcgi"} {
			if proto != "http" && !nginxUp {
				continue
			}
			t.Run(proto, func(t *testing.T) { checkResized(t, runClient(t, python, "http://"+hosts[proto]+"/resize/")) })
		}
	})
	checkQuietLog(t, srv, logFrom)

	// The whole example stops on TERM, app processes and zygote included.
	group := procfs.Group(srv.PID)
	for pid := range appPIDs {
		if !contains(group, pid) {
			t.Errorf("app process %d is not in the master's process group %v", pid, group)
		}
	}
	srv.Signal(syscall.SIGTERM)
	if code := srv.Wait(60 * time.Second); code != 0 {
		t.Errorf("master exited with %d after TERM, want 0", code)
	}
	for _, pid := range group {
		if procfs.Alive(pid) {
			p, _ := procfs.Stat(pid)
			t.Errorf("process %d of the example (%+v) outlived the master", pid, p)
		}
	}
}

// requireFlaskAndPIL skips the test unless /usr/bin/python3, which
// examples/wsgi/app.toml names, has Flask and Pillow (Debian's python3-flask
// and python3-pil); under $CI it fails it instead.
func requireFlaskAndPIL(t *testing.T) {
	t.Helper()
	py := wsgiPython(t)
	if out, err := exec.Command(py, "-c", "import flask, PIL").CombinedOutput(); err != nil {
		msg := "examples/wsgi needs " + py + " with Flask and Pillow (Debian: apt-get install python3-flask python3-pil): " + string(out)
		if os.Getenv(nginxtest.EnvCI) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// getBody GETs u and returns the status and body.
func getBody(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// flaskInfo GETs the Flask app's /info and decodes its JSON.
func flaskInfo(t *testing.T, c *http.Client, u string) map[string]any {
	t.Helper()
	code, body := getBody(t, c, u)
	var info map[string]any
	if err := json.Unmarshal([]byte(body), &info); code != 200 || err != nil {
		t.Fatalf("GET %s: %d %v: %s", u, code, err, body)
	}
	return info
}
