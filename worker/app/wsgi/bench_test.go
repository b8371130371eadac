package wsgi

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
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

// mapOnly hides a writer's WriteWhole: the header map's way.
type mapOnly struct{ http.ResponseWriter }

// BenchmarkAnswerWhole is the sending of a whole response (hello's: two
// headers and 17 bytes) to arbiter's own HTTP/1.1 writer, as serveRequest
// makes and finishes it: without a header map (the writer is a
// cgivars.WholeWriter) and through one. go test -bench AnswerWhole
// -benchmem ./worker/app/wsgi/
func BenchmarkAnswerWhole(b *testing.B) {
	h, s := fuzzHandler()
	block := []byte("200 OK\x00Content-Type\x00text/plain\x00Content-Length\x0017")
	body := []byte("hello from 12345\n")
	r, err := http.NewRequest("GET", "http://127.0.0.1:8000/", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		wrap func(http.ResponseWriter) http.ResponseWriter
	}{
		{"whole", func(w http.ResponseWriter) http.ResponseWriter { return w }},
		{"header map", func(w http.ResponseWriter) http.ResponseWriter { return mapOnly{w} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rw := cgivars.NewOriginWriter(io.Discard, r, cgivars.Origin{KeepAlive: true})
				h.answerWhole(bc.wrap(rw), r, s, block, body)
				if err := rw.Finish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
