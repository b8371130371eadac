package cgi

import (
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
)

const trivial = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n"

// BenchmarkScript is one request for a trivial shell script, served
// through a ResponseRecorder: the spawn cost per request.
func BenchmarkScript(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "t.sh")
	if err := writeFile(path, trivial); err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/t.sh", nil))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkBareExec is the reference: os/exec running the same script with
// its output collected, and nothing else.
func BenchmarkBareExec(b *testing.B) {
	path := filepath.Join(b.TempDir(), "t.sh")
	if err := writeFile(path, trivial); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := exec.Command(path).Output(); err != nil {
			b.Fatal(err)
		}
	}
}
