package cgi

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// FuzzReadHeader checks that readHeader never panics, that everything it
// refuses is an *outputError, and that what it accepts is well formed and
// parses the same again once written back.
func FuzzReadHeader(f *testing.F) {
	for _, s := range []string{
		"Content-Type: text/plain\n\nbody",
		"Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n",
		"Location: /local?q\n\n",
		"Location: https://example.com/\nStatus: 301 Moved\nContent-Type: text/html\n\n<a>",
		"Status: 099\n\n",
		"X: a\r\n b\r\n\r\n",
		"Content-Type: a\rb\n\n",
		"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), readerSize)
		h, err := readHeader(br)
		if err != nil {
			var oe *outputError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v (%T) is not an *outputError", err, err)
			}
			return
		}
		consumed := len(data) - br.Buffered()
		if consumed > maxHeaderBytes {
			t.Fatalf("accepted a %d-byte header block", consumed)
		}
		if h.status != 0 && (h.status < 200 || h.status > 599) {
			t.Fatalf("status %d", h.status)
		}
		if h.status == 0 && h.location == "" && len(h.fields["Content-Type"]) == 0 {
			t.Fatal("accepted a block without Content-Type, Location or Status")
		}
		if len(h.fields["Content-Type"]) > 1 {
			t.Fatal("two Content-Types accepted")
		}
		for k, vv := range h.fields {
			if !cgivars.IsToken(k) || textproto.CanonicalMIMEHeaderKey(k) != k || k == "Status" || k == "Location" {
				t.Fatalf("field name %q", k)
			}
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n\x00") || strings.Trim(v, " \t") != v {
					t.Fatalf("field %s value %q", k, v)
				}
			}
		}
		// Written back in canonical form, it parses to the same.
		var b bytes.Buffer
		if h.status != 0 {
			b.WriteString("Status: " + strconv.Itoa(h.status) + " x\n")
		}
		if h.location != "" {
			b.WriteString("Location: " + h.location + "\n")
		}
		keys := make([]string, 0, len(h.fields))
		for k := range h.fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range h.fields[k] {
				b.WriteString(k + ": " + v + "\r\n")
			}
		}
		b.WriteString("\n")
		h2, err := readHeader(bufio.NewReaderSize(&b, readerSize))
		if err != nil {
			t.Fatalf("written back, it fails: %v", err)
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip: %+v != %+v", h, h2)
		}
	})
}

// FuzzResolve checks the path walk: whatever the path, a script found lies
// inside the root, is a regular file, was reached without a dot segment,
// and SCRIPT_NAME plus PATH_INFO is the path with empty segments before the
// script merged.
func FuzzResolve(f *testing.F) {
	root := f.TempDir()
	for name, body := range map[string]string{"a.sh": pathScript, "d/b.sh": pathScript, ".h/c.sh": pathScript} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink("/bin/sh", filepath.Join(root, "out.sh")); err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{Root: root, Prefix: "/p"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/p/a.sh/x", "/p//d//b.sh//y/", "/p/.h/c.sh", "/p/d/../a.sh", "/p/out.sh", "/p/a.sh/%2e%2e/x", "/p/d%2fb.sh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, RequestURI: target, Header: http.Header{}}
		tg, code, _ := h.resolve(&call{r: r})
		if code != 0 {
			if code != 400 && code != 403 && code != 404 && code != 500 {
				t.Fatalf("%q: status %d", target, code)
			}
			return
		}
		rel, ok := strings.CutPrefix(tg.filename, root+"/")
		if !ok || hasDotSegment(rel, true) {
			t.Fatalf("%q: script %q outside the root or through a dot segment", target, tg.filename)
		}
		if fi, err := os.Lstat(tg.filename); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%q: script %q is not a regular file", target, tg.filename)
		}
		if tg.scriptName != "/p/"+rel {
			t.Fatalf("%q: SCRIPT_NAME %q for %q", target, tg.scriptName, rel)
		}
		if !strings.HasSuffix(u.Path, tg.pathInfo) || hasDotSegment(tg.pathInfo, false) {
			t.Fatalf("%q: PATH_INFO %q", target, tg.pathInfo)
		}
		merged := "/" + strings.Join(strings.FieldsFunc(strings.TrimSuffix(u.Path, tg.pathInfo), func(r rune) bool { return r == '/' }), "/")
		if merged != tg.scriptName {
			t.Fatalf("%q: SCRIPT_NAME %q, path before PATH_INFO %q", target, tg.scriptName, merged)
		}
	})
}
