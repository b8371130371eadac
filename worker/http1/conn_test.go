package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars/oneshot"
)

// dial opens a connection to addr, closed at the end of the test, with a
// deadline that turns a hang into a failure.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// A client that goes away while its request runs ends the request's
// context, with oneshot.ErrPeerGone as the cause, once the watch is on.
func TestClientGoneEndsContext(t *testing.T) {
	cause := make(chan error, 1)
	h, _ := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cause <- context.Cause(r.Context())
	}))
	watching := make(chan struct{}, 1)
	testHookWatch = func() { watching <- struct{}{} }
	t.Cleanup(func() { testHookWatch = func() {} })
	c, _ := dial(t, h.Addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-watching
	c.Close()
	select {
	case err := <-cause:
		if !errors.Is(err, oneshot.ErrPeerGone) {
			t.Fatalf("cause %v, want ErrPeerGone", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request context did not end when the client went away")
	}
}

// The next request arriving while a request is watched does not end the
// request, and is served after it.
func TestPipelinedDuringWatch(t *testing.T) {
	release := make(chan struct{})
	h, _ := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			<-release
			if err := r.Context().Err(); err != nil {
				t.Errorf("first request's context: %v", err)
			}
		}
		io.WriteString(w, r.URL.Path)
	}))
	watching := make(chan struct{}, 1)
	testHookWatch = func() { watching <- struct{}{} }
	t.Cleanup(func() { testHookWatch = func() {} })
	c, br := dial(t, h.Addr)
	io.WriteString(c, "GET /first HTTP/1.1\r\nHost: h\r\n\r\n")
	<-watching
	io.WriteString(c, "GET /second HTTP/1.1\r\nHost: h\r\n\r\n")
	close(release)
	for _, want := range []string{"/first", "/second"} {
		r, err := readReply(br, "GET")
		if err != nil || r.body != want {
			t.Fatalf("got %q, %v; want %q", r.body, err, want)
		}
	}
}

// A handler can hijack the connection, with what the client sent after the
// request head in the reader it gets.
func TestHijack(t *testing.T) {
	h, _ := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		extra := make([]byte, 5)
		if _, err := io.ReadFull(rw, extra); err != nil {
			t.Errorf("reading after the head: %v", err)
		}
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
		rw.Write(extra)
		rw.Flush()
	}))
	c, br := dial(t, h.Addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\nEXTRA")
	r, err := readReply(br, "GET")
	if err != nil || r.body != "EXTRA" {
		t.Fatalf("got %+v, %v", r, err)
	}
}

// Shutdown closes an idle kept-alive connection at once, lets the request
// in flight finish with Connection: close, and returns when it is over.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h, p := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "ok")
	}))
	idle, idleBR := dial(t, h.Addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if r, err := readReply(idleBR, "GET"); err != nil || r.close {
		t.Fatalf("first response %+v, %v", r, err)
	}
	busy, busyBR := dial(t, h.Addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started

	done := make(chan error, 1)
	go func() { done <- p.fast.Shutdown(context.Background()) }()
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	r, err := readReply(busyBR, "GET")
	if err != nil || r.body != "ok" || !r.close {
		t.Fatalf("in-flight response %+v, %v; want ok with Connection: close", r, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A head that does not come within ReadHeaderTimeout, and a kept-alive
// connection idle past IdleTimeout, are closed.
func TestTimeouts(t *testing.T) {
	h, _ := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		func(s *Server) {
			s.ReadHeaderTimeout = 100 * time.Millisecond
			s.IdleTimeout = 100 * time.Millisecond
		})
	slow, slowBR := dial(t, h.Addr)
	io.WriteString(slow, "GET / HTTP/1.1\r\n")
	if _, err := slowBR.ReadByte(); err != io.EOF {
		t.Fatalf("half a head: %v, want EOF", err)
	}
	idle, idleBR := dial(t, h.Addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if r, err := readReply(idleBR, "GET"); err != nil || r.body != "ok" {
		t.Fatalf("response %+v, %v", r, err)
	}
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
}

// A file copied into the response with a Content-Length goes out whole
// (through ReadFrom: sendfile), and the connection goes on.
func TestFileBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := strings.Repeat("0123456789", 100<<10)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	h, _ := startPair(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("the ResponseWriter is no io.ReaderFrom")
		}
		w.Header().Set("Content-Length", "1024000")
		io.Copy(w, f)
	}))
	c, br := dial(t, h.Addr)
	for range 2 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		r, err := readReply(br, "GET")
		if err != nil || r.body != data || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("got %d bytes, type %q, %v", len(r.body), r.header.Get("Content-Type"), err)
		}
	}
}
