package static

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// secret is the content of the file outside the root that no request may read.
const secret = "TOP SECRET outside the root"

// modTime is the modification time given to every fixture file.
var modTime = time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)

// fixture builds a root to serve and a sibling directory, outside, holding
// secret.txt. It returns the root's path and outside's path.
func fixture(t testing.TB) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "www")
	outside = filepath.Join(base, "outside")
	files := map[string]string{
		"outside/secret.txt":                  secret,
		"www/index.html":                      "<html>home</html>",
		"www/style.css":                       "body{color:red}",
		"www/app.js":                          "console.log(1)",
		"www/data.json":                       `{"a":1}`,
		"www/pic.svg":                         `<svg xmlns="http://www.w3.org/2000/svg"/>`,
		"www/image.png":                       "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"www/plain":                           "just some text\n",
		"www/page":                            "<!DOCTYPE html><html><body>hi</body></html>",
		"www/alphabet":                        "abcdefghijklmnopqrstuvwxyz",
		"www/docs/index.html":                 "<html>docs</html>",
		"www/docs/guide.txt":                  "guide",
		"www/alt/index.htm":                   "<html>alt htm</html>",
		"www/alt/index.html/inner":            "a directory named index.html",
		"www/empty/keep.txt":                  "no index here",
		"www/my dir/index.html":               "spaced",
		"www/.env":                            "SECRET=1",
		"www/.git/config":                     "[core]",
		"www/sub/.hidden":                     "hidden",
		"www/sub/file.txt":                    "sub file",
		"www/.well-known/acme-challenge/tok1": "tok1.thumbprint",
		"www/.well-known/.private":            "private",
	}
	for name, content := range files {
		p := filepath.Join(base, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, modTime, modTime); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"escape":      "../outside/secret.txt",
		"escape-abs":  filepath.Join(outside, "secret.txt"),
		"escape-dir":  "../outside",
		"docs/escape": "../../outside/secret.txt",
		"inside":      "style.css",
		"dirlink":     "docs",
		"loop":        "loop",
		"dangling":    "nothing-here",
		"envlink":     ".env",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, outside
}

// mustNew is New that fails the test on error.
func mustNew(t testing.TB, root string, index []string) http.Handler {
	t.Helper()
	h, err := New(root, index)
	if err != nil {
		t.Fatalf("New(%q, %q): %v", root, index, err)
	}
	return h
}

// do serves one request, built as a server would parse it from target, and
// returns the recorded response.
func do(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
