package cgivars

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// recorder is an io.Writer that keeps every Write call separately and can
// be told to fail.
type recorder struct {
	writes  [][]byte
	flushes int
	failAt  int // fail the Nth write (1-based); 0 never
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.failAt > 0 && len(r.writes)+1 == r.failAt {
		return 0, errors.New("boom")
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) String() string { return string(bytes.Join(r.writes, nil)) }

// flushRecorder also has Flush() error, which Flush must call.
type flushRecorder struct{ recorder }

func (r *flushRecorder) Flush() error { r.flushes++; return nil }

func TestResponseWriter(t *testing.T) {
	big := strings.Repeat("x", bodyBufSize+1)
	tests := []struct {
		name    string
		style   Style
		method  string
		handler func(w http.ResponseWriter)
		want    string
		wantErr error
	}{
		{"implicit 200, no body", StatusHeader, "GET", func(w http.ResponseWriter) {},
			"Status: 200 OK\r\nContent-Length: 0\r\n\r\n", nil},
		{"sniffed type and computed length", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Write([]byte("hello"))
		}, "Status: 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello", nil},
		{"status line", StatusLine, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(404)
			w.Write([]byte("<p>"))
		}, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nContent-Type: text/html\r\n\r\n<p>", nil},
		{"names canonical and sorted", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header()["x-zeta"] = []string{"1"}
			w.Header()["X-ALPHA"] = []string{"a", "b"}
			w.Header()["Content-Type"] = nil // suppresses sniffing, as in net/http
			w.Write([]byte("{}"))
		}, "Status: 200 OK\r\nContent-Length: 2\r\nX-Alpha: a\r\nX-Alpha: b\r\nX-Zeta: 1\r\n\r\n{}", nil},
		{"HEAD with body written", StatusHeader, "HEAD", func(w http.ResponseWriter) {
			w.Write([]byte("hello"))
		}, "Status: 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", nil},
		{"HEAD without body", StatusLine, "HEAD", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
		}, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", nil},
		{"HEAD with a large body", StatusHeader, "HEAD", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(big))
		}, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n", nil},
		{"HEAD with declared length", StatusHeader, "HEAD", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "100")
		}, "Status: 200 OK\r\nContent-Length: 100\r\n\r\n", nil},
		{"204 refuses a body", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.WriteHeader(204)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				panic(err)
			}
		}, "Status: 204 No Content\r\n\r\n", nil},
		{"304 keeps its headers", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(304)
		}, "Status: 304 Not Modified\r\nEtag: \"v1\"\r\n\r\n", nil},
		{"second WriteHeader ignored", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.WriteHeader(201)
			w.WriteHeader(500)
		}, "Status: 201 Created\r\nContent-Length: 0\r\n\r\n", nil},
		{"1xx not sent", StatusLine, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(103)
			w.WriteHeader(100)
			w.WriteHeader(202)
		}, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nLink: </s.css>; rel=preload\r\n\r\n", nil},
		{"header changes after WriteHeader ignored", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("A", "1")
			w.WriteHeader(200)
			w.Header().Set("B", "2")
		}, "Status: 200 OK\r\nA: 1\r\nContent-Length: 0\r\n\r\n", nil},
		{"values edited in place after WriteHeader ignored", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("A", "1")
			w.Header()["B"] = []string{"x", "y"}
			w.WriteHeader(200)
			w.Header()["A"][0] = "changed"
			w.Header()["B"][1] = "changed"
			delete(w.Header(), "B")
		}, "Status: 200 OK\r\nA: 1\r\nB: x\r\nB: y\r\nContent-Length: 0\r\n\r\n", nil},
		{"a nil value sends no such header", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header()["Content-Type"] = nil
			w.Write([]byte("<html>"))
		}, "Status: 200 OK\r\nContent-Length: 6\r\n\r\n<html>", nil},
		{"Location keeps its status", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Location", "/new")
			w.WriteHeader(201)
		}, "Status: 201 Created\r\nContent-Length: 0\r\nLocation: /new\r\n\r\n", nil},
		{"unknown status code", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.WriteHeader(599)
		}, "Status: 599 status code 599\r\nContent-Length: 0\r\n\r\n", nil},
		{"hop-by-hop, trailers and Status dropped", StatusLine, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Transfer-Encoding", "chunked")
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set(http.TrailerPrefix+"X-Sum", "1")
			w.Header().Set("Status", "500")
			w.Header()["Bad Name"] = []string{"1"}
			w.Write([]byte("ok"))
		}, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok", nil},
		{"CR and LF in values", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("X-A", " a\r\nSet-Cookie: x=1 ")
		}, "Status: 200 OK\r\nContent-Length: 0\r\nX-A: a  Set-Cookie: x=1\r\n\r\n", nil},
		{"write past declared length", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "3")
			w.Write([]byte("ab"))
			if _, err := w.Write([]byte("cd")); err != http.ErrContentLength {
				panic(err)
			}
			w.Write([]byte("c"))
		}, "Status: 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nabc", nil},
		{"short of declared length", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("abc"))
		}, "Status: 200 OK\r\nContent-Length: 10\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nabc", ErrShortBody},
		{"invalid declared length replaced", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "x")
			w.Write([]byte("abc"))
		}, "Status: 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nabc", nil},
		{"large body streams without length", StatusLine, "GET", func(w http.ResponseWriter) {
			w.Write([]byte("<html>"))
			w.Write([]byte(big))
		}, "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html>" + big, nil},
		{"large first write sniffed", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Write([]byte("<html>" + big))
		}, "Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html>" + big, nil},
		{"flush sends header without length", StatusHeader, "GET", func(w http.ResponseWriter) {
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		}, "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nab", nil},
		{"flush before any write", StatusLine, "GET", func(w http.ResponseWriter) {
			w.(http.Flusher).Flush()
		}, "HTTP/1.1 200 OK\r\n\r\n", nil},
		{"write after Finish refused", StatusHeader, "GET", func(w http.ResponseWriter) {
			rw := w.(*ResponseWriter)
			rw.Write([]byte("a"))
			if err := rw.Finish(); err != nil {
				panic(err)
			}
			if _, err := rw.Write([]byte("b")); err != ErrFinished {
				panic(err)
			}
		}, "Status: 200 OK\r\nContent-Length: 1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\na", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			req, _ := http.NewRequest(tt.method, "/", nil)
			rw := NewResponseWriter(rec, tt.style, req)
			tt.handler(rw)
			if err := rw.Finish(); !errors.Is(err, tt.wantErr) {
				t.Errorf("Finish = %v, want %v", err, tt.wantErr)
			}
			if got := rec.String(); got != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", trunc(got), trunc(tt.want))
			}
			if strings.Contains(rec.String(), "Transfer-Encoding") {
				t.Error("response has Transfer-Encoding")
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func TestResponseWriterSmallIsOneWrite(t *testing.T) {
	rec := &recorder{}
	rw := NewResponseWriter(rec, StatusHeader, nil)
	rw.Header().Set("Content-Type", "text/plain")
	for range 10 {
		rw.Write([]byte("0123456789"))
	}
	if rw.Committed() {
		t.Error("Committed before Finish")
	}
	if err := rw.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 {
		t.Errorf("%d writes, want 1", len(rec.writes))
	}
	if !rw.Committed() {
		t.Error("not Committed after Finish")
	}
	if rec.flushes != 0 {
		t.Error("Finish called w's Flush")
	}
}

func TestResponseWriterFlushPushesThrough(t *testing.T) {
	rec := &flushRecorder{}
	rw := NewResponseWriter(rec, StatusHeader, nil)
	rw.Write([]byte("tick"))
	if len(rec.writes) != 0 {
		t.Fatal("wrote before Flush")
	}
	rw.Flush()
	if rec.String() != "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ntick" || rec.flushes != 1 {
		t.Errorf("after Flush: %q, %d flushes", rec.String(), rec.flushes)
	}
	if !rw.Committed() {
		t.Error("not Committed after Flush")
	}
	rw.Write([]byte("tock"))
	if err := rw.FlushError(); err != nil || !strings.HasSuffix(rec.String(), "ticktock") || rec.flushes != 2 {
		t.Errorf("after second flush: %v %q, %d flushes", err, rec.String(), rec.flushes)
	}
	if err := rw.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestResponseWriterWriteError(t *testing.T) {
	rec := &recorder{failAt: 2}
	rw := NewResponseWriter(rec, StatusHeader, nil)
	chunk := bytes.Repeat([]byte("y"), wireBufSize)
	if _, err := rw.Write(chunk); err != nil {
		t.Fatalf("first write: %v", err) // the header block and the body go out separately
	}
	_, err := rw.Write(chunk)
	if err == nil {
		t.Fatal("second write did not fail")
	}
	if _, err2 := rw.Write([]byte("z")); err2 != err {
		t.Errorf("later write returned %v, want the first error %v", err2, err)
	}
	if err3 := rw.Finish(); err3 != err {
		t.Errorf("Finish returned %v, want %v", err3, err)
	}
}

func TestResponseWriterInvalidCodePanics(t *testing.T) {
	for _, code := range []int{0, 99, 1000, -12} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WriteHeader(%d) did not panic", code)
				}
			}()
			NewResponseWriter(&recorder{}, StatusHeader, nil).WriteHeader(code)
		}()
	}
}

func TestResponseWriterStatus(t *testing.T) {
	rw := NewResponseWriter(&recorder{}, StatusHeader, nil)
	if rw.Status() != 0 {
		t.Errorf("Status before WriteHeader = %d", rw.Status())
	}
	rw.Write(nil)
	if rw.Status() != 200 {
		t.Errorf("Status after Write = %d", rw.Status())
	}
}

// A response's header snapshot lives in pooled buffers: the next response
// that gets them starts with none of the last one's headers.
func TestResponseWriterReusedBuffersStartEmpty(t *testing.T) {
	for i := range 3 {
		rec := &recorder{}
		rw := NewResponseWriter(rec, StatusHeader, nil)
		if i == 0 {
			for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"} {
				rw.Header()[k] = []string{k + "1", k + "2"}
			}
		} else {
			rw.Header().Set("K", "1")
		}
		rw.WriteHeader(200)
		if err := rw.Finish(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if want := "Status: 200 OK\r\nContent-Length: 0\r\nK: 1\r\n\r\n"; rec.String() != want {
				t.Fatalf("response %d wrote %q, want %q", i, rec.String(), want)
			}
		}
	}
}
