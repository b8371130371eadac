package cgi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// pathScript prints SCRIPT_NAME and PATH_INFO.
const pathScript = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s' \"$SCRIPT_NAME\" \"$PATH_INFO\"\n"

func TestResolve(t *testing.T) {
	f := newFixture(t, Config{
		Prefix:       "/cgi-bin/",
		Interpreters: map[string]string{".py": "python3"},
		Extensions:   []string{".sh", ".py", ".txt", ""},
	}, map[string]string{
		"hello.sh":          pathScript,
		"sub/deep.sh":       pathScript,
		"noext":             pathScript,
		".hidden.sh":        pathScript,
		".git/hook.sh":      pathScript,
		"plain.txt":         "not executable\n",
		"refused.pl":        pathScript,
		"nph-x.sh":          "#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nnph'\n",
		"py/app.py":         "import os\nprint('Content-Type: text/plain\\n')\nprint(os.environ['SCRIPT_NAME'] + '|' + os.environ['PATH_INFO'], end='')\n",
		"nested/hello.sh/x": "a directory named like a script",
	})
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "evil.sh"), []byte(pathScript), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, filepath.Join(outside, "evil.sh"), filepath.Join(f.root, "escape.sh"))
	mustSymlink(t, outside, filepath.Join(f.root, "escape-dir"))
	mustSymlink(t, "hello.sh", filepath.Join(f.root, "alias.sh"))
	mustSymlink(t, "sub", filepath.Join(f.root, "inside-dir"))
	mustSymlink(t, "../escape.sh", filepath.Join(f.root, "sub", "back-out.sh"))
	if err := syscall.Mkfifo(filepath.Join(f.root, "fifo.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.root+"/py/app.py", 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		target string
		status int
		body   string
	}{
		{"/cgi-bin/hello.sh", 200, "/cgi-bin/hello.sh|"},
		{"/cgi-bin/hello.sh/", 200, "/cgi-bin/hello.sh|/"},
		{"/cgi-bin/hello.sh/a/b?q=1", 200, "/cgi-bin/hello.sh|/a/b"},
		{"/cgi-bin/hello.sh/a//b/", 200, "/cgi-bin/hello.sh|/a//b/"},
		{"/cgi-bin/hello.sh/.well-known/x", 200, "/cgi-bin/hello.sh|/.well-known/x"},
		{"/cgi-bin/hello.sh/%C3%A9t%C3%A9", 200, "/cgi-bin/hello.sh|/été"},
		{"/cgi-bin/hello.sh/%FF%FE", 200, "/cgi-bin/hello.sh|/\xff\xfe"},
		{"/cgi-bin//sub///deep.sh/x", 200, "/cgi-bin/sub/deep.sh|/x"},
		{"/cgi-bin/noext/x", 200, "/cgi-bin/noext|/x"},
		{"/cgi-bin/alias.sh", 200, "/cgi-bin/alias.sh|"},
		{"/cgi-bin/inside-dir/deep.sh/x", 200, "/cgi-bin/inside-dir/deep.sh|/x"},
		{"/cgi-bin/py/app.py/info", 200, "/cgi-bin/py/app.py|/info"},
		{"/cgi-bin/nph-x.sh", 200, "nph"},
		{"/cgi-bin/nested/hello.sh/x", 500, ""}, // x is executable, but exec fails: ENOEXEC
		{"/cgi-bin/.hidden.sh", 404, ""},
		{"/cgi-bin/.git/hook.sh", 404, ""},
		{"/cgi-bin/../cgi-bin/hello.sh", 404, ""},
		{"/cgi-bin/sub/../hello.sh", 404, ""},
		{"/cgi-bin/./hello.sh", 404, ""},
		{"/cgi-bin/hello.sh/../../etc/passwd", 404, ""},
		{"/cgi-bin/hello.sh/./x", 404, ""},
		{"/cgi-bin/sub%2Fdeep.sh", 404, ""},
		{"/cgi-bin/hello.sh/a%2fb", 404, ""},
		{"/cgi-bin/escape.sh", 404, ""},
		{"/cgi-bin/escape-dir/evil.sh", 404, ""},
		{"/cgi-bin/sub/back-out.sh", 404, ""},
		{"/cgi-bin/inside-dir/back-out.sh", 404, ""},
		{"/cgi-bin/hello.sh.d/x", 404, ""},
		{"/cgi-bin/fifo.sh", 404, ""},
		{"/cgi-bin/missing.sh", 404, ""},
		{"/cgi-bin/hello.sh.bak", 404, ""},
		{"/cgi-bin/", 404, ""},
		{"/cgi-bin", 404, ""},
		{"/cgi-binx/hello.sh", 404, ""},
		{"/hello.sh", 404, ""},
		{"/cgi-bin/plain.txt", 403, ""},
		{"/cgi-bin/refused.pl", 403, ""},
		{"/cgi-bin/sub\\deep.sh", 404, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		var err error
		if r.URL, err = url.ParseRequestURI(tt.target); err != nil {
			t.Fatal(err)
		}
		r.RequestURI = tt.target
		w := f.do(r)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.target, w.Code, tt.status, strings.TrimSpace(w.Body.String()))
			continue
		}
		if tt.status == 200 && w.Body.String() != tt.body {
			t.Errorf("%s: body %q, want %q", tt.target, w.Body, tt.body)
		}
		if tt.status != 200 && w.Body.String() != http.StatusText(tt.status)+"\n" {
			t.Errorf("%s: error body %q", tt.target, w.Body)
		}
	}

	// NUL cannot come through net/http's parser; a front end could send it.
	v := nginxVars("/", "/x")
	v["SCRIPT_NAME"] = "/cgi-bin/hello.sh\x00.txt"
	if w := f.do(frontRequest(t, v, "")); w.Code != 400 {
		t.Errorf("NUL in SCRIPT_NAME: status %d, want 400", w.Code)
	}
}

// A root reached through a symlink that a deploy swaps (/srv/current ->
// release-N) serves the new release from the next request on, over HTTP
// and by SCRIPT_FILENAME.
func TestRootSymlinkSwap(t *testing.T) {
	base := t.TempDir()
	for _, rel := range []string{"r1", "r2"} {
		if err := os.Mkdir(filepath.Join(base, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		body := "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n" + rel + "'\n"
		if err := writeFile(filepath.Join(base, rel, "v.sh"), body); err != nil {
			t.Fatal(err)
		}
	}
	current := filepath.Join(base, "current")
	mustSymlink(t, "r1", current)
	f := newFixture(t, Config{Root: current}, nil)
	get := func() string {
		t.Helper()
		w := f.get("/v.sh")
		v := nginxVars("/v.sh", "")
		v["SCRIPT_FILENAME"] = current + "/v.sh"
		wf := f.do(frontRequest(t, v, ""))
		if w.Code != 200 || wf.Code != 200 || w.Body.String() != wf.Body.String() {
			t.Fatalf("by path: %d %q; by SCRIPT_FILENAME: %d %q", w.Code, w.Body, wf.Code, wf.Body)
		}
		return w.Body.String()
	}
	if got := get(); got != "r1" {
		t.Fatalf("before the swap: %q, want r1", got)
	}
	tmp := filepath.Join(base, "current.new")
	mustSymlink(t, "r2", tmp)
	if err := os.Rename(tmp, current); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "r2" {
		t.Fatalf("after the swap: %q, want r2", got)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(script, []byte(pathScript), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing", Config{}, "Script or Root is required"},
		{"both", Config{Script: script, Root: dir}, "not both"},
		{"not executable", Config{Script: script}, "not executable"},
		{"missing root", Config{Root: filepath.Join(dir, "none")}, "no such file"},
		{"root is a file", Config{Root: script}, "not a directory"},
		{"interpreter", Config{Root: dir, Interpreters: map[string]string{".x": "no-such-interpreter-here"}}, "executable file not found"},
		{"prefix", Config{Root: dir, Prefix: "cgi"}, "must start with /"},
		{"pass_env", Config{Root: dir, PassEnv: []string{"A=B"}}, "invalid name"},
		{"workdir", Config{Root: dir, Dir: script}, "not a directory"},
	} {
		if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New() error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestWorkingDirectory(t *testing.T) {
	const pwd = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s' \"$(pwd)\"\n"
	f := newFixture(t, Config{}, map[string]string{"sub/pwd.sh": pwd})
	if w := f.get("/sub/pwd.sh"); w.Body.String() != f.root+"/sub" {
		t.Errorf("working directory %q, want the script's", w.Body)
	}
	work := t.TempDir()
	g := newFixture(t, Config{Dir: work}, map[string]string{"sub/pwd.sh": pwd})
	if w := g.get("/sub/pwd.sh"); w.Body.String() != work {
		t.Errorf("working directory %q, want %q", w.Body, work)
	}
}

func mustSymlink(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}
