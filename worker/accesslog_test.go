package worker

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// With "-", a formatted line is the message of a main-log line, and the
// json preset an "access" object in it; to a file, the line as it is.
func TestAccessLogFormatted(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Out", "yes")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("abc"))
	})
	serve := func(a *accessLog) {
		r := httptest.NewRequest("GET", "/p?q=1", nil)
		r.RemoteAddr = "192.0.2.1:999"
		a.wrap(h).ServeHTTP(httptest.NewRecorder(), r)
	}

	var buf bytes.Buffer
	a, err := openAccessLog("-", `%(h)s "%(r)s" %(s)s %(b)s %({X-Out}o)s`, zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	serve(a)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["message"] != `192.0.2.1 "GET /p?q=1 HTTP/1.1" 418 3 yes` || line["log"] != "access" {
		t.Errorf("text format into the main log: %v: %s", err, buf.Bytes())
	}

	buf.Reset()
	if a, err = openAccessLog("-", "json", zerolog.New(&buf)); err != nil {
		t.Fatal(err)
	}
	serve(a)
	var j struct {
		Access struct {
			Status int    `json:"status"`
			URI    string `json:"uri"`
		} `json:"access"`
	}
	if err := json.Unmarshal(buf.Bytes(), &j); err != nil || j.Access.Status != 418 || j.Access.URI != "/p?q=1" {
		t.Errorf("json preset into the main log: %v: %s", err, buf.Bytes())
	}

	path := filepath.Join(t.TempDir(), "access.log")
	if a, err = openAccessLog(path, "common", zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	serve(a)
	serve(a)
	a.Close()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], `192.0.2.1 - - [`) || !strings.HasSuffix(lines[1], `] "GET /p?q=1 HTTP/1.1" 418 3`) {
		t.Errorf("common into a file: %q", b)
	}
}

// A response cut off by the handler (http.ErrAbortHandler) still gets its
// access line, marked aborted, and the panic goes on to net/http.
func TestAccessLogAbortedResponse(t *testing.T) {
	var buf bytes.Buffer
	a, err := openAccessLog("-", "", zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	h := a.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("part"))
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("panic %v, want http.ErrAbortHandler passed on", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/cut", nil))
	}()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["aborted"] != true || line["uri"] != "/cut" || line["bytes"] != 4.0 {
		t.Fatalf("access line %v: %s", err, buf.Bytes())
	}
}

// A whole response sent without a header map (cgivars.WholeWriter, the
// WSGI app's way) is logged as any other: status, bytes, and its header
// fields for %({name}o)s.
func TestAccessLogWholeResponse(t *testing.T) {
	var buf bytes.Buffer
	a, err := openAccessLog("-", `%(s)s %(b)s %({X-Out}o)s`, zerolog.New(&buf))
	if err != nil {
		t.Fatal(err)
	}
	took := false
	h := a.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww, ok := w.(cgivars.WholeWriter)
		if !ok {
			t.Fatal("the recorder is not a cgivars.WholeWriter")
		}
		fields := []string{"X-Out", "yes"}
		_, took, _ = ww.WriteWhole(http.StatusTeapot, fields, []byte("abc"))
		clear(fields) // as the WSGI handler's pooled buffer is, once sent

	}))
	var out bytes.Buffer
	r := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(cgivars.NewOriginWriter(&out, r, cgivars.Origin{}), r)
	if !took || !strings.HasPrefix(out.String(), "HTTP/1.1 418 I'm a teapot\r\nX-Out: yes\r\n") {
		t.Fatalf("WriteWhole took it: %v; sent %q", took, out.String())
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["message"] != "418 3 yes" {
		t.Fatalf("access line %v: %s", err, buf.Bytes())
	}
}
