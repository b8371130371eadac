package wsgi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// decodeEnviron reads an environ block the way the runner does: latin-1
// text split at NUL, names and values in turn (a byte is a character, so
// bytes do as well as latin-1 here). It fails t unless the block is whole
// pairs, each ended by a NUL, with no name twice.
func decodeEnviron(t *testing.T, block []byte) (map[string]string, []string) {
	t.Helper()
	if len(block) == 0 {
		t.Fatal("empty environ block")
	}
	if block[len(block)-1] != 0 {
		t.Fatalf("environ block does not end with NUL: %q", block)
	}
	items := strings.Split(string(block[:len(block)-1]), "\x00")
	if len(items)%2 != 0 {
		t.Fatalf("environ block of %d items, not pairs: a NUL inside a name or value: %q", len(items), block)
	}
	m := map[string]string{}
	var order []string
	for i := 0; i < len(items); i += 2 {
		if _, dup := m[items[i]]; dup {
			t.Fatalf("%s twice in the environ block: %q", items[i], block)
		}
		m[items[i]] = items[i+1]
		order = append(order, items[i])
	}
	return m, order
}

// checkEnviron runs environ for r and checks what every request's environ
// holds; it returns the decoded variables, or nil when environ refused r.
func checkEnviron(t *testing.T, scriptName string, r *http.Request, bodyLen int64) map[string]string {
	t.Helper()
	h := &Handler{scriptName: strings.TrimSuffix(scriptName, "/")}
	e := &env{}
	if err := h.environ(e, r, bodyLen); err != nil {
		if !errors.Is(err, errNULInPath) || strings.IndexByte(r.URL.Path, 0) < 0 {
			t.Fatalf("environ: %v for path %q", err, r.URL.Path)
		}
		return nil
	}
	m, order := decodeEnviron(t, e.b)
	if order[len(order)-1] != "wsgi.url_scheme" || m["wsgi.url_scheme"] != "http" && m["wsgi.url_scheme"] != "https" {
		t.Fatalf("wsgi.url_scheme %q, last of %q", m["wsgi.url_scheme"], order)
	}
	if (m["HTTPS"] == "on") != (m["wsgi.url_scheme"] == "https") {
		t.Fatalf("HTTPS %q with wsgi.url_scheme %q", m["HTTPS"], m["wsgi.url_scheme"])
	}
	if m["SCRIPT_NAME"] != h.scriptName {
		t.Fatalf("SCRIPT_NAME %q, mounted at %q", m["SCRIPT_NAME"], h.scriptName)
	}
	if want := strings.TrimPrefix(r.URL.Path, h.scriptName); m["PATH_INFO"] != want {
		t.Fatalf("PATH_INFO %q, want %q", m["PATH_INFO"], want)
	}
	for _, k := range []string{"REQUEST_METHOD", "SERVER_PROTOCOL", "SERVER_NAME", "SERVER_PORT", "GATEWAY_INTERFACE", "SERVER_SOFTWARE"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("no %s in %q", k, order)
		}
	}
	if cl, ok := m["CONTENT_LENGTH"]; ok && cl != strconv.FormatInt(bodyLen, 10) {
		t.Fatalf("CONTENT_LENGTH %q for a body of %d", cl, bodyLen)
	}
	for k := range m {
		if hk, ok := strings.CutPrefix(k, "HTTP_"); ok && cgivars.DroppedHeaderVar(hk) {
			t.Fatalf("%s reached the app", k)
		}
	}
	return m
}

// cgiVars decodes FuzzEnvironCGI's variables: a byte of length and the
// name, a byte of length and the value, for each; a short one ends them.
func cgiVars(b []byte) map[string]string {
	m := map[string]string{}
	next := func() (string, bool) {
		if len(b) == 0 || len(b) < 1+int(b[0]) {
			return "", false
		}
		s := string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
		return s, true
	}
	for {
		k, ok := next()
		v, ok2 := next()
		if !ok || !ok2 {
			return m
		}
		m[k] = v
	}
}

// FuzzEnvironCGI builds a request from CGI variables as a FastCGI, SCGI or
// uwsgi front end sends them (any bytes in names and values, NUL too), the
// way those servers do, and encodes its environ. The block must decode into whole
// pairs with no name twice, whatever the variables hold (a NUL in one must
// not shift the pairs after it), and the front end's variables the app
// keeps must arrive as they were sent.
func FuzzEnvironCGI(f *testing.F) {
	f.Fuzz(func(t *testing.T, vars []byte, scriptName string) {
		if strings.IndexByte(scriptName, 0) >= 0 {
			return // the mount path comes from the config, which has none
		}
		front := cgiVars(vars)
		r, err := cgivars.NewRequest(context.Background(), front, nil)
		if err != nil {
			return // the server answers 400
		}
		bodyLen := max(r.ContentLength, 0)
		m := checkEnviron(t, scriptName, r, bodyLen)
		if m == nil {
			return
		}
		for k, v := range front {
			hk, isHeader := strings.CutPrefix(k, "HTTP_")
			if k == "" || recomputed[k] || strings.ContainsRune(k+v, 0) || isHeader && cgivars.DroppedHeaderVar(hk) {
				continue
			}
			if m[k] != v {
				t.Fatalf("%s is %q, the front end sent %q", k, m[k], v)
			}
		}
	})
}

// FuzzEnvironHTTP reads an HTTP/1.x request with net/http's parser, keeps
// it only if net/http's server would (header names tokens, values without
// control characters), and encodes its environ: whole pairs, no name
// twice, and each header as its HTTP_ variable.
func FuzzEnvironHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte, scriptName string) {
		if strings.IndexByte(scriptName, 0) >= 0 {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		for k, vv := range r.Header {
			if !cgivars.IsToken(k) {
				return
			}
			for _, v := range vv {
				if !cgivars.IsFieldValue(v) {
					return
				}
			}
		}
		if !cgivars.IsFieldValue(r.Host) {
			return
		}
		r.RemoteAddr = "192.0.2.7:40000"
		bodyLen := max(r.ContentLength, 0)
		m := checkEnviron(t, scriptName, r, bodyLen)
		if m == nil {
			return
		}
		if m["REQUEST_METHOD"] != r.Method || m["QUERY_STRING"] != r.URL.RawQuery || m["REMOTE_ADDR"] != "192.0.2.7" || m["REMOTE_PORT"] != "40000" {
			t.Fatalf("request line variables %q", m)
		}
		cgivars.EachHeaderVar(r, func(k, v string) {
			if !cgivars.DroppedHeaderVar(k) && m["HTTP_"+k] != v {
				t.Fatalf("HTTP_%s is %q, want %q", k, m["HTTP_"+k], v)
			}
		})
	})
}
