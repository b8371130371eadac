package static

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestServe(t *testing.T) {
	root, outside := fixture(t)
	h := mustNew(t, root, nil)
	tests := []struct {
		name   string
		method string // GET when empty
		target string
		header map[string]string
		status int
		body   string            // checked when status is 200 or body is not ""
		want   map[string]string // response headers
	}{
		// Files and content types.
		{name: "root index", target: "/", status: 200, body: "<html>home</html>",
			want: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "index by name", target: "/index.html", status: 200, body: "<html>home</html>"},
		{name: "css", target: "/style.css", status: 200, body: "body{color:red}",
			want: map[string]string{"Content-Type": "text/css; charset=utf-8", "Content-Length": "15", "Accept-Ranges": "bytes"}},
		{name: "js", target: "/app.js", status: 200, body: "console.log(1)",
			want: map[string]string{"Content-Type": "text/javascript; charset=utf-8"}},
		{name: "json", target: "/data.json", status: 200, body: `{"a":1}`,
			want: map[string]string{"Content-Type": "application/json"}},
		{name: "svg", target: "/pic.svg", status: 200, body: `<svg xmlns="http://www.w3.org/2000/svg"/>`,
			want: map[string]string{"Content-Type": "image/svg+xml"}},
		{name: "png", target: "/image.png", status: 200, body: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
			want: map[string]string{"Content-Type": "image/png"}},
		{name: "sniffed text", target: "/plain", status: 200, body: "just some text\n",
			want: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "sniffed html", target: "/page", status: 200, body: "<!DOCTYPE html><html><body>hi</body></html>",
			want: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "nested file", target: "/docs/guide.txt", status: 200, body: "guide"},
		{name: "encoded slash", target: "/docs%2Fguide.txt", status: 200, body: "guide"},
		{name: "merged slashes", target: "//docs//guide.txt", status: 200, body: "guide"},
		{name: "query ignored", target: "/style.css?v=3", status: 200, body: "body{color:red}"},

		// Directories.
		{name: "dir index", target: "/docs/", status: 200, body: "<html>docs</html>",
			want: map[string]string{"Content-Type": "text/html; charset=utf-8"}},
		{name: "dir redirect", target: "/docs", status: 301,
			want: map[string]string{"Location": "./docs/"}},
		{name: "dir redirect keeps query", target: "/docs?a=1&b=%20x", status: 301,
			want: map[string]string{"Location": "./docs/?a=1&b=%20x"}},
		{name: "nested dir redirect", target: "/.well-known/acme-challenge", status: 301,
			want: map[string]string{"Location": "./acme-challenge/"}},
		{name: "dir redirect keeps escaping", target: "/my%20dir?q=%2F", status: 301,
			want: map[string]string{"Location": "./my%20dir/?q=%2F"}},
		{name: "escaped dir index", target: "/my%20dir/", status: 200, body: "spaced"},
		{name: "dir without index", target: "/empty/", status: 404, body: "Not Found\n"},
		{name: "dir without index redirects first", target: "/empty", status: 301},
		{name: "default index is only index.html", target: "/alt/", status: 404},
		{name: "file with slash", target: "/style.css/", status: 404},
		{name: "missing", target: "/nope.html", status: 404, body: "Not Found\n"},
		{name: "missing below file", target: "/style.css/x", status: 404},
		{name: "missing dir", target: "/nope/", status: 404},
		{name: "fifo", target: "/fifo", status: 404},
		{name: "long name", target: "/" + strings.Repeat("a", 300), status: 404},

		// Dotfiles.
		{name: "dotfile", target: "/.env", status: 404},
		{name: "dot dir", target: "/.git/config", status: 404},
		{name: "dot dir itself", target: "/.git/", status: 404},
		{name: "nested dotfile", target: "/sub/.hidden", status: 404},
		{name: "encoded dotfile", target: "/%2eenv", status: 404},
		{name: "well-known", target: "/.well-known/acme-challenge/tok1", status: 200, body: "tok1.thumbprint"},
		{name: "dotfile under well-known", target: "/.well-known/.private", status: 404},
		{name: "well-known not first", target: "/sub/.well-known/x", status: 404},

		// Traversal.
		{name: "dotdot", target: "/../outside/secret.txt", status: 404},
		{name: "dotdot inside", target: "/docs/../style.css", status: 404},
		{name: "dot segment", target: "/./style.css", status: 404},
		{name: "encoded dotdot", target: "/%2e%2e/outside/secret.txt", status: 404},
		{name: "encoded dotdot upper", target: "/%2E%2E/outside/secret.txt", status: 404},
		{name: "encoded slash after dotdot", target: "/..%2foutside%2fsecret.txt", status: 404},
		{name: "fully encoded", target: "/%2e%2e%2f%2e%2e%2foutside%2fsecret.txt", status: 404},
		{name: "deep dotdot", target: "/docs/..%2f..%2f..%2f..%2fetc/passwd", status: 404},
		{name: "absolute after slashes", target: "//etc/passwd", status: 404},
		{name: "backslash", target: `/..\outside\secret.txt`, status: 400},
		{name: "encoded backslash", target: "/..%5coutside%5csecret.txt", status: 400},
		{name: "nul", target: "/style.css%00.png", status: 400},

		// Symlinks.
		{name: "symlink escape", target: "/escape", status: 404},
		{name: "absolute symlink escape", target: "/escape-abs", status: 404},
		{name: "dir symlink escape", target: "/escape-dir/secret.txt", status: 404},
		{name: "dir symlink escape slash", target: "/escape-dir/", status: 404},
		{name: "nested symlink escape", target: "/docs/escape", status: 404},
		// The type follows the requested name, as in nginx, not the link target.
		{name: "symlink inside", target: "/inside", status: 200, body: "body{color:red}",
			want: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
		{name: "dir symlink inside", target: "/dirlink/", status: 200, body: "<html>docs</html>"},
		{name: "dir symlink redirect", target: "/dirlink", status: 301, want: map[string]string{"Location": "./dirlink/"}},
		{name: "symlink loop", target: "/loop", status: 404},
		{name: "dangling symlink", target: "/dangling", status: 404},
		{name: "symlink to dotfile is the operator's choice", target: "/envlink", status: 200, body: "SECRET=1"},

		// Methods.
		{name: "head", method: "HEAD", target: "/style.css", status: 200, body: "",
			want: map[string]string{"Content-Length": "15", "Content-Type": "text/css; charset=utf-8"}},
		{name: "head dir redirect", method: "HEAD", target: "/docs", status: 301, want: map[string]string{"Location": "./docs/"}},
		{name: "post", method: "POST", target: "/style.css", status: 405, body: "Method Not Allowed\n",
			want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "put", method: "PUT", target: "/new.txt", status: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "delete", method: "DELETE", target: "/style.css", status: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "options", method: "OPTIONS", target: "/", status: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{name: "405 before path checks", method: "POST", target: "/.env", status: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			w := do(h, method, tt.target, tt.header)
			if w.Code != tt.status {
				t.Fatalf("%s %s: status %d, want %d; body %q", method, tt.target, w.Code, tt.status, w.Body.String())
			}
			if (tt.status == 200 || tt.body != "") && w.Body.String() != tt.body {
				t.Errorf("body %q, want %q", w.Body.String(), tt.body)
			}
			for k, v := range tt.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s: %q, want %q", k, got, v)
				}
			}
			if w.Code != 200 {
				for _, leak := range []string{secret, root, outside, "SECRET="} {
					if strings.Contains(w.Body.String(), leak) {
						t.Errorf("body %q contains %q", w.Body.String(), leak)
					}
				}
			}
		})
	}
}

func TestIndexList(t *testing.T) {
	root, _ := fixture(t)
	h := mustNew(t, root, []string{"index.html", "index.htm"})
	tests := []struct {
		target string
		status int
		body   string
	}{
		{"/", 200, "<html>home</html>"},
		{"/docs/", 200, "<html>docs</html>"},
		// alt/index.html is a directory: it is skipped, index.htm is served.
		{"/alt/", 200, "<html>alt htm</html>"},
		{"/empty/", 404, "Not Found\n"},
	}
	for _, tt := range tests {
		w := do(h, "GET", tt.target, nil)
		if w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("GET %s: %d %q, want %d %q", tt.target, w.Code, w.Body.String(), tt.status, tt.body)
		}
	}
	if ct := do(h, "GET", "/alt/", nil).Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type of index.htm: %q", ct)
	}
}

func TestNewErrors(t *testing.T) {
	root, _ := fixture(t)
	tests := []struct {
		name  string
		root  string
		index []string
	}{
		{"missing root", filepath.Join(root, "nope"), nil},
		{"root is a file", filepath.Join(root, "style.css"), nil},
		{"root is a fifo", filepath.Join(root, "fifo"), nil},
		{"empty index name", root, []string{""}},
		{"index with slash", root, []string{"a/index.html"}},
		{"index dotdot", root, []string{".."}},
		{"index dotfile", root, []string{".index.html"}},
		{"index backslash", root, []string{`a\b`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := New(tt.root, tt.index); err == nil {
				t.Fatalf("New(%q, %q) = %v, nil; want an error", tt.root, tt.index, h)
			}
		})
	}
	if _, err := New(root, []string{}); err != nil {
		t.Errorf("New with an empty index list: %v", err)
	}
}

func TestNewUnreadableRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o311); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if _, err := New(dir, nil); err == nil {
		t.Fatal("New on an unlistable directory succeeded")
	}
}

func TestForbidden(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	root, _ := fixture(t)
	h := mustNew(t, root, nil)
	p := filepath.Join(root, "style.css")
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	w := do(h, "GET", "/style.css", nil)
	if w.Code != http.StatusForbidden || w.Body.String() != "Forbidden\n" {
		t.Fatalf("unreadable file: %d %q, want 403", w.Code, w.Body.String())
	}
	if err := os.Chmod(filepath.Join(root, "docs", "index.html"), 0); err != nil {
		t.Fatal(err)
	}
	if w := do(h, "GET", "/docs/", nil); w.Code != http.StatusForbidden {
		t.Fatalf("unreadable index: %d, want 403", w.Code)
	}
}

// TestRootGone checks that a root removed after New answers 500 with a body
// that names nothing, and that the handler recovers when the root is back.
func TestRootGone(t *testing.T) {
	root, _ := fixture(t)
	h := mustNew(t, root, nil)
	moved := root + ".moved"
	if err := os.Rename(root, moved); err != nil {
		t.Fatal(err)
	}
	w := do(h, "GET", "/style.css", nil)
	if w.Code != http.StatusInternalServerError || w.Body.String() != "Internal Server Error\n" {
		t.Fatalf("root gone: %d %q, want 500 with the bare status text", w.Code, w.Body.String())
	}
	if err := os.Rename(moved, root); err != nil {
		t.Fatal(err)
	}
	if w := do(h, "GET", "/style.css", nil); w.Code != 200 {
		t.Fatalf("root back: %d, want 200", w.Code)
	}
}

// TestRootSwap checks that nothing is cached: a root that is a symlink
// switched to another directory is followed by the next request.
func TestRootSwap(t *testing.T) {
	base := t.TempDir()
	for _, rel := range []string{"r1", "r2"} {
		if err := os.Mkdir(filepath.Join(base, rel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, rel, "v.txt"), []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	current := filepath.Join(base, "current")
	if err := os.Symlink("r1", current); err != nil {
		t.Fatal(err)
	}
	h := mustNew(t, current, nil)
	if body := do(h, "GET", "/v.txt", nil).Body.String(); body != "r1" {
		t.Fatalf("before swap: %q", body)
	}
	tmp := filepath.Join(base, "current.tmp")
	if err := os.Symlink("r2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, current); err != nil {
		t.Fatal(err)
	}
	if body := do(h, "GET", "/v.txt", nil).Body.String(); body != "r2" {
		t.Fatalf("after swap: %q, want r2", body)
	}
	// A file changed in place is served fresh, with a new validator.
	etag1 := do(h, "GET", "/v.txt", nil).Header().Get("ETag")
	if err := os.WriteFile(filepath.Join(base, "r2", "v.txt"), []byte("r2 v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := do(h, "GET", "/v.txt", nil)
	if w.Body.String() != "r2 v2" || w.Header().Get("ETag") == etag1 {
		t.Fatalf("after rewrite: %q ETag %s (was %s)", w.Body.String(), w.Header().Get("ETag"), etag1)
	}
}

func TestRelativeRoot(t *testing.T) {
	root, _ := fixture(t)
	t.Chdir(filepath.Dir(root))
	h := mustNew(t, "www", nil)
	t.Chdir(root) // "www" no longer names the root from here
	if w := do(h, "GET", "/style.css", nil); w.Code != 200 {
		t.Fatalf("after chdir: %d, want 200", w.Code)
	}
}

func TestStatus(t *testing.T) {
	root, _ := fixture(t)
	h := mustNew(t, root, nil).(*handler)
	if h.escapes == nil {
		t.Fatal("the os.Root escape error was not captured")
	}
	wrap := func(err error) error { return &fs.PathError{Op: "openat", Path: "x", Err: err} }
	tests := []struct {
		err  error
		want int
	}{
		{wrap(syscall.ENOENT), 404},
		{wrap(syscall.ENOTDIR), 404},
		{wrap(syscall.ELOOP), 404},
		{wrap(syscall.ENAMETOOLONG), 404},
		{wrap(h.escapes), 404},
		{errNotServable, 404},
		{wrap(syscall.EACCES), 403},
		{wrap(syscall.EPERM), 403},
		{wrap(syscall.EIO), 500},
		{wrap(syscall.EMFILE), 500},
		{fmt.Errorf("read: %w", errors.New("other")), 500},
	}
	for _, tt := range tests {
		if got := h.status(tt.err); got != tt.want {
			t.Errorf("status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
