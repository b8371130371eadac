package wsgi

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// discardWriter is the least a ResponseWriter can be.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServeHTTP is one request at a time through the handler to one
// app process and back: the Go side's allocations and CPU per request
// (go test -bench ServeHTTP -benchmem -cpuprofile), with the round trip to
// Python in the time. "list" is an app returning a list (one COMPLETE
// frame); "iterator" one returning an iterator of one chunk (HEADERS,
// BODY, END), as Flask and Django do.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct{ name, module, path string }{
		{"list", "conformance:create_app()", "/"},
		{"iterator", "conformance:application", "/stream?n=1&delay=0"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchServeHTTP(b, bc.module, bc.path)
		})
	}
}

func benchServeHTTP(b *testing.B, module, path string) {
	dir, err := filepath.Abs("testdata/apps")
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{
		Module: module, Python: testPython(b), Dir: dir,
		Env: append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), Processes: 1, Threads: 1,
		TempDir: b.TempDir(), Log: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	r, err := http.NewRequest("GET", "http://127.0.0.1:8000"+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.RequestURI = path
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}
