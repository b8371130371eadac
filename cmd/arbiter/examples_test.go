package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// TestExampleImageresize runs examples/imageresize as its README does:
// the program with its app.toml, and nginx with its nginx.conf, with every
// address replaced by a free one. The image comes back 800×800 with text
// on it over HTTP directly and over FastCGI, SCGI and uwsgi behind nginx;
// bad input gets 400 or 413 with a message; the article's client.py works
// against every port.
func TestExampleImageresize(t *testing.T) {
	testutil.CheckGoroutines(t)
	src := exampleDir(t, "imageresize")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The example's addresses, and the test's in their place.
	arb := map[string]string{"http": "127.0.0.1:8087", "fastcgi": "127.0.0.1:9000", "scgi": "127.0.0.1:9001", "uwsgi": "127.0.0.1:9002"}
	front := map[string]string{"fastcgi": "127.0.0.1:8888", "scgi": "127.0.0.1:9999", "uwsgi": "127.0.0.1:9898"}
	free, appSubst, nginxSubst := exampleAddrs(t, arb, front)
	copySubst(t, filepath.Join(src, "app.toml"), filepath.Join(dir, "app.toml"), appSubst...)

	srv := proctest.Start(t, proctest.Build(t, "./examples/imageresize"), []string{"run", filepath.Join(dir, "app.toml")})
	srv.WaitMsg(0, 60*time.Second, "generation ready")
	logFrom := srv.Count()

	nginxUp := startExampleNginx(t, src, dir, nginxSubst, free[front["fastcgi"]], free[front["scgi"]], free[front["uwsgi"]])
	needNginx := func(t *testing.T) {
		if !nginxUp {
			nginxtest.Require(t) // skips, or fails under CI
		}
	}

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	form, ctype := imageForm(t, whitePNG(t, 400, 400))
	urls := map[string]string{"http": "http://" + free[arb["http"]] + "/"}
	for proto, addr := range front {
		urls[proto] = "http://" + free[addr] + "/"
	}

	for _, proto := range []string{"http", "fastcgi", "scgi", "uwsgi"} {
		t.Run(proto, func(t *testing.T) {
			if proto != "http" {
				needNginx(t)
			}
			code, typ, body := post(t, c, urls[proto], ctype, form)
			if code != 200 || typ != "image/png" {
				t.Fatalf("%d %s: %.300s", code, typ, body)
			}
			checkResized(t, body)

			notImage, nctype := imageForm(t, []byte("hello, world"))
			code, _, body = post(t, c, urls[proto], nctype, notImage)
			if code != 400 || !strings.Contains(string(body), "not an image") {
				t.Errorf("not an image: %d %s", code, body)
			}
			code, _, body = post(t, c, urls[proto], "text/plain", []byte("x"))
			if code != 400 || !strings.Contains(string(body), "multipart/form-data") {
				t.Errorf("not a form: %d %s", code, body)
			}
		})
	}
	t.Run("too-large", func(t *testing.T) {
		big, bctype := imageForm(t, bytes.Repeat([]byte{0}, 20<<20))
		code, _, body := post(t, c, urls["http"], bctype, big)
		if code != 413 || !strings.Contains(string(body), "the limit is 20971520") {
			t.Errorf("over HTTP: %d %s", code, body)
		}
		needNginx(t)
		// nginx lets 21 MB through (client_max_body_size), so the app's own
		// limit answers.
		code, _, body = post(t, c, urls["fastcgi"], bctype, big)
		if code != 413 || !strings.Contains(string(body), "the limit is 20971520") {
			t.Errorf("behind nginx: %d %s", code, body)
		}
	})
	checkQuietLog(t, srv, logFrom)

	t.Run("client.py", func(t *testing.T) {
		python := requirePython(t)
		for _, proto := range []string{"http", "fastcgi", "scgi", "uwsgi"} {
			if proto != "http" && !nginxUp {
				continue
			}
			t.Run(proto, func(t *testing.T) { checkResized(t, runClient(t, python, urls[proto])) })
		}
	})
}

// TestExampleCGI runs examples/cgi/app.toml as its README does (only the
// address is replaced, with --bind) and asks each script something: env.sh
// shows the CGI variables and the body, form.py answers its form, and
// cgi_application.py resizes a raw or a multipart upload to 800×800.
func TestExampleCGI(t *testing.T) {
	testutil.CheckGoroutines(t)
	addr := proctest.FreeAddr(t)
	env := []string{}
	python := ""
	if p := findPython(); p != "" {
		// The config's interpreter is "python3" from PATH: make it this one.
		python = p
		env = append(env, "PATH="+filepath.Dir(p)+":"+os.Getenv("PATH"))
	}
	srv := proctest.Start(t, proctest.Build(t, "./cmd/arbiter"),
		[]string{"run", "--bind", addr, filepath.Join(exampleDir(t, "cgi"), "app.toml")}, env...)
	srv.WaitMsg(0, 60*time.Second, "generation ready")
	logFrom := srv.Count()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	base := "http://" + addr + "/cgi-bin/"

	t.Run("env.sh", func(t *testing.T) {
		resp, err := c.Get(base + "env.sh/extra/path?a=1&b=2")
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		for _, want := range []string{
			"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "SCRIPT_NAME=/cgi-bin/env.sh",
			"PATH_INFO=/extra/path", "QUERY_STRING=a=1&b=2", "REQUEST_URI=/cgi-bin/env.sh/extra/path?a=1&b=2",
			"SCRIPT_FILENAME=" + filepath.Join(exampleDir(t, "cgi"), "cgi-bin", "env.sh"), "SERVER_PORT=" + addr[strings.LastIndexByte(addr, ':')+1:],
		} {
			if resp.StatusCode != 200 || !strings.Contains(body, "\n"+want+"\n") {
				t.Errorf("no %q in %d %s", want, resp.StatusCode, body)
			}
		}
		code, _, b := post(t, c, base+"env.sh", "text/plain", []byte("hello"))
		if code != 200 || !strings.Contains(string(b), "CONTENT_LENGTH=5\n") || !strings.Contains(string(b), "body (5 bytes):\nhello\n") {
			t.Errorf("POST: %d %s", code, b)
		}
	})
	t.Run("form.py", func(t *testing.T) {
		resp, err := c.Get(base + "form.py")
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `<form method="post" action="/cgi-bin/form.py">`) {
			t.Errorf("GET: %d %s", resp.StatusCode, body)
		}
		urlencoded := "application/x-www-form-urlencoded"
		code, _, b := post(t, c, base+"form.py", urlencoded, []byte("name=Ada&message=%3Chi%3E"))
		if code != 200 || !strings.Contains(string(b), "Hello, Ada") || !strings.Contains(string(b), "&lt;hi&gt;") {
			t.Errorf("POST: %d %s", code, b)
		}
		if code, _, b := post(t, c, base+"form.py", urlencoded, []byte("message=x")); code != 400 {
			t.Errorf("POST without a name: %d %s", code, b)
		}
		if code, _, b := post(t, c, base+"form.py", "text/plain", []byte("name=Ada")); code != 415 {
			t.Errorf("POST text/plain: %d %s", code, b)
		}
	})
	t.Run("cgi_application.py", func(t *testing.T) {
		if python == "" {
			requirePython(t)
		}
		code, typ, b := post(t, c, base+"cgi_application.py", "image/png", whitePNG(t, 400, 400))
		if code != 200 || typ != "image/png" {
			t.Fatalf("raw image: %d %s %.300s", code, typ, b)
		}
		checkResized(t, b)
		form, ctype := imageForm(t, whitePNG(t, 300, 200))
		code, _, b = post(t, c, base+"cgi_application.py", ctype, form)
		if code != 200 {
			t.Fatalf("multipart: %d %.300s", code, b)
		}
		checkResized(t, b)
		code, _, b = post(t, c, base+"cgi_application.py", "image/png", []byte("hello, world"))
		if code != 400 || !strings.Contains(string(b), "not an image") {
			t.Errorf("not an image: %d %s", code, b)
		}
		checkQuietLog(t, srv, logFrom)
		// The article's client, which hangs up as soon as it has the image.
		checkResized(t, runClient(t, python, base+"cgi_application.py"))
	})
	if resp, err := c.Get("http://" + addr + "/cgi-bin/app.toml"); err != nil || resp.StatusCode != 404 {
		t.Errorf("a file outside cgi-bin/: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExampleNginxConfigs checks every nginx-*.conf of examples/nginx: an
// `nginx -t` of it, then nginx running it in front of arbiter running the
// config it names (app.toml, the echo app, or cgi.toml, the fcgiwrap-style
// CGI set-up), with requests through it. The directory layout is the
// example's (nginx's prefix holds the configs, ../cgi/cgi-bin the scripts);
// only addresses and include paths are replaced.
func TestExampleNginxConfigs(t *testing.T) {
	testutil.CheckGoroutines(t)
	bin := nginxtest.Require(t)
	src := exampleDir(t, "nginx")
	base, err := filepath.EvalSymlinks(t.TempDir()) // as nginx's $realpath_root sees it
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(exampleDir(t, "cgi"), "cgi-bin"), filepath.Join(base, "cgi", "cgi-bin"))

	// The example's addresses, and the test's in their place.
	example := []string{"127.0.0.1:8000", "127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003", "127.0.0.1:8080"}
	free := map[string]string{}
	for _, a := range example {
		free[a] = proctest.FreeAddr(t)
	}
	subst := func(names ...string) []string {
		var pairs []string
		for _, a := range names {
			pairs = append(pairs, a, free[a])
		}
		return pairs
	}
	copySubst(t, filepath.Join(src, "app.toml"), filepath.Join(dir, "app.toml"), subst(example[:4]...)...)
	copySubst(t, filepath.Join(src, "cgi.toml"), filepath.Join(dir, "cgi.toml"), subst("127.0.0.1:9003")...)
	arbiterBin := proctest.Build(t, "./cmd/arbiter")
	echo := proctest.Start(t, arbiterBin, []string{"run", filepath.Join(dir, "app.toml")})
	cgi := proctest.Start(t, arbiterBin, []string{"run", filepath.Join(dir, "cgi.toml")})
	echo.WaitMsg(0, 60*time.Second, "generation ready")
	cgi.WaitMsg(0, 60*time.Second, "generation ready")
	logFrom := map[*proctest.Server]int{echo: echo.Count(), cgi: cgi.Count()}

	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	front := free["127.0.0.1:8080"]
	url := "http://" + front

	// What each file is checked with: its upstream in app.toml or cgi.toml,
	// and a check of the answers through it.
	echoCheck := func(proto string, hostPort bool) func(t *testing.T) {
		return func(t *testing.T) {
			for range 3 { // kept connections are reused, or new ones opened
				r := getEcho(t, c, url+"/hello?x=1")
				if r.Protocol != proto || r.Path != "/hello" || r.Query != "x=1" {
					t.Fatalf("echo reply %+v, want %s, /hello, x=1", r, proto)
				}
				if hostPort && r.Host != front {
					t.Errorf("host %q, want %q", r.Host, front)
				}
			}
		}
	}
	confs := map[string]struct {
		upstream string
		check    func(t *testing.T)
	}{
		"nginx-fastcgi.conf": {"127.0.0.1:9000", func(t *testing.T) {
			echoCheck("fastcgi", true)(t)
			req, _ := http.NewRequest("PUT", url+"/upload/big", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 3<<20))})
			resp, err := c.Do(req) // chunked: the reader hides its length
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, `"body_length":3145728`) {
				t.Errorf("streamed upload: %d %s", resp.StatusCode, body)
			}
		}},
		"nginx-scgi.conf":  {"127.0.0.1:9001", echoCheck("scgi", false)},
		"nginx-uwsgi.conf": {"127.0.0.1:9002", echoCheck("uwsgi", true)},
		"nginx-http.conf": {"127.0.0.1:8000", func(t *testing.T) {
			echoCheck("http", true)(t)
			if r := getEcho(t, c, url+"/"); len(r.Headers["X-Forwarded-For"]) != 1 {
				t.Errorf("X-Forwarded-For %q", r.Headers["X-Forwarded-For"])
			}
		}},
		"nginx-cgi.conf": {"127.0.0.1:9003", func(t *testing.T) {
			resp, err := c.Get(url + "/cgi-bin/env.sh/extra?x=1")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			for _, want := range []string{"SCRIPT_FILENAME=" + filepath.Join(base, "cgi", "cgi-bin", "env.sh"),
				"SCRIPT_NAME=/cgi-bin/env.sh", "PATH_INFO=/extra", "QUERY_STRING=x=1", "SERVER_SOFTWARE=nginx/"} {
				if resp.StatusCode != 200 || !strings.Contains(body, "\n"+want) {
					t.Errorf("no %q in %d %s", want, resp.StatusCode, body)
				}
			}
			code, _, b := post(t, c, url+"/cgi-bin/form.py", "application/x-www-form-urlencoded", []byte("name=Ada"))
			if code != 200 || !strings.Contains(string(b), "Hello, Ada") {
				t.Errorf("form.py: %d %s", code, b)
			}
			for _, path := range []string{"/cgi-bin/missing.sh", "/"} {
				if resp, err := c.Get(url + path); err != nil || resp.StatusCode != 404 {
					t.Errorf("GET %s: %v %v, want 404", path, resp, err)
				} else {
					resp.Body.Close()
				}
			}
		}},
	}
	files, _ := filepath.Glob(filepath.Join(src, "nginx-*.conf"))
	if len(files) != len(confs) {
		t.Errorf("examples/nginx has %d nginx-*.conf files, the test knows %d", len(files), len(confs))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			conf, ok := confs[name]
			if !ok {
				t.Fatalf("no check for %s: add one", name)
			}
			pairs := append(subst("127.0.0.1:8080", conf.upstream), nginxIncludeSubst(t, bin)...)
			copySubst(t, file, filepath.Join(dir, name), pairs...)
			nginxTestConf(t, bin, dir, name)
			t.Run("run", func(t *testing.T) {
				startNginxConf(t, bin, dir, name, front)
				conf.check(t)
			})
		})
	}
	checkQuietLog(t, echo, logFrom[echo])
	checkQuietLog(t, cgi, logFrom[cgi])
}

// getEcho GETs url and decodes the echo app's reply.
func getEcho(t *testing.T, c *http.Client, url string) echo.Reply {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	var r echo.Reply
	if err := json.Unmarshal([]byte(body), &r); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET %s: %d %v: %s", url, resp.StatusCode, err, body)
	}
	return r
}
