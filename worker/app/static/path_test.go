package static

import (
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in     string
		name   string
		slash  bool
		status int
	}{
		{"/", ".", true, 0},
		{"", ".", true, 0},
		{"//", ".", true, 0},
		{"/a", "a", false, 0},
		{"a", "a", false, 0},
		{"/a/", "a", true, 0},
		{"/a/b.txt", "a/b.txt", false, 0},
		{"//a///b//", "a/b", true, 0},
		{"/a..b/c...", "a..b/c...", false, 0},
		{"/.well-known/acme-challenge/x", ".well-known/acme-challenge/x", false, 0},
		{"/.well-known", ".well-known", false, 0},
		{"//.well-known/", ".well-known", true, 0},
		{"/.well-known/.x", "", false, 404},
		{"/a/.well-known", "", false, 404},
		{"/.well-knownx", "", false, 404},
		{"/.WELL-KNOWN/x", "", false, 404},
		{"/.", "", false, 404},
		{"/..", "", false, 404},
		{"/../a", "", false, 404},
		{"/a/../b", "", false, 404},
		{"/a/./b", "", false, 404},
		{"/.env", "", false, 404},
		{"/a/.git/", "", false, 404},
		{"/a\\b", "", false, 400},
		{"/..\\..\\etc", "", false, 400},
		{"/a\x00.png", "", false, 400},
	}
	for _, tt := range tests {
		rp, status := parsePath(tt.in)
		if status != tt.status || (status == 0 && (rp.name != tt.name || rp.slash != tt.slash)) {
			t.Errorf("parsePath(%q) = %+v, %d; want {%s %v}, %d", tt.in, rp, status, tt.name, tt.slash, tt.status)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/", "", "/a/b/", "//a//b", "/../x", "/.well-known/acme-challenge/t", "/a\\b", "/a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rp, status := parsePath(p)
		switch status {
		case 0:
		case http.StatusBadRequest, http.StatusNotFound:
			return
		default:
			t.Fatalf("parsePath(%q): status %d", p, status)
		}
		if rp.name != "." && (!filepath.IsLocal(rp.name) || path.Clean(rp.name) != rp.name) {
			t.Fatalf("parsePath(%q) = %q: not a clean local name", p, rp.name)
		}
		if strings.ContainsAny(rp.name, "\x00\\") {
			t.Fatalf("parsePath(%q) = %q: NUL or backslash", p, rp.name)
		}
		for i, seg := range strings.Split(rp.name, "/") {
			if strings.HasPrefix(seg, ".") && !(i == 0 && (seg == wellKnown || rp.name == ".")) {
				t.Fatalf("parsePath(%q) = %q: dot segment %q", p, rp.name, seg)
			}
		}
		if rp.name == "." && !rp.slash {
			t.Fatalf("parsePath(%q): the root without a slash", p)
		}
		// The result is a fixed point.
		again := "/" + rp.name
		if rp.name == "." {
			again = "/"
		}
		if rp2, status := parsePath(again); status != 0 || rp2.name != rp.name {
			t.Fatalf("parsePath(%q) = %q, but parsePath(%q) = %q, %d", p, rp.name, again, rp2.name, status)
		}
	})
}

// FuzzServe sends arbitrary decoded paths at a root with escaping symlinks
// next to a secret, and checks that nothing outside the root is ever served
// and that no path makes the handler fail.
func FuzzServe(f *testing.F) {
	for _, s := range []string{"/", "/docs", "/escape", "/escape-dir/secret.txt", "/../outside/secret.txt",
		"/dirlink/../escape", "/.well-known/acme-challenge/tok1", "/fifo", "/loop/x"} {
		f.Add(s)
	}
	root, _ := fixture(f)
	h := mustNew(f, root, []string{"index.html", "index.htm"})
	f.Fuzz(func(t *testing.T, p string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = p
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.String()
		if strings.Contains(body, secret) {
			t.Fatalf("GET %q served the secret outside the root", p)
		}
		if !slices.Contains([]int{200, 301, 400, 404}, w.Code) {
			t.Fatalf("GET %q: status %d, body %q", p, w.Code, body)
		}
		if w.Code == 301 {
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, "./") || !strings.HasSuffix(loc, "/") || strings.ContainsAny(loc, "\r\n") {
				t.Fatalf("GET %q: Location %q", p, loc)
			}
		}
	})
}
