package oneshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

func TestRoundTrip(t *testing.T) {
	h := start(t, echo)
	tests := []struct {
		name, req, want string
	}{
		{"GET", head("REQUEST_METHOD", "GET", "REQUEST_URI", "/x?y=1"),
			ok200("GET /x?y=1 cl=0 body=")},
		{"POST", head("REQUEST_METHOD", "POST", "REQUEST_URI", "/p", "CONTENT_LENGTH", "5") + "hello",
			ok200("POST /p cl=5 body=hello")},
		{"chunked", head("REQUEST_METHOD", "POST", "REQUEST_URI", "/c", "HTTP_TRANSFER_ENCODING", "chunked") + "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
			ok200("POST /c cl=-1 body=abcde")},
		{"no length, not chunked: no body", head("REQUEST_METHOD", "POST", "REQUEST_URI", "/n") + "ignored",
			ok200("POST /n cl=0 body=")},
		{"bad head answered 400", "garbage\n\n",
			"Status: 400 Bad Request\r\nContent-Length: 12\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\nBad Request\n"},
		{"no method answered 400", head("REQUEST_URI", "/"),
			"Status: 400 Bad Request\r\nContent-Length: 12\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\nBad Request\n"},
		{"framing error just closes", strings.Repeat("A=B\n", 2000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Exchange(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	h.WaitLog("no REQUEST_METHOD")
	h.WaitLog("head too large")
}

func TestContextEndsWhenPeerGoes(t *testing.T) {
	for _, tt := range []struct{ name, req string }{
		{"no body", head("REQUEST_METHOD", "GET")},
		{"body read", head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "3") + "abc"},
		{"chunked body read", head("REQUEST_METHOD", "POST", "HTTP_TRANSFER_ENCODING", "chunked") + "3\r\nabc\r\n0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cause := make(chan error, 1)
			h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				<-r.Context().Done()
				cause <- context.Cause(r.Context())
			}))
			c := h.Dial()
			io.WriteString(c, tt.req)
			time.Sleep(20 * time.Millisecond) // let the handler start; the test passes without it too
			c.Close()
			if err := <-cause; !errors.Is(err, ErrPeerGone) {
				t.Errorf("cause %v, want ErrPeerGone", err)
			}
		})
	}
}

func TestShortBody(t *testing.T) {
	got := make(chan error, 1)
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
		<-r.Context().Done()
	}))
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "10")+"abc")
	c.(*net.TCPConn).CloseWrite()
	if err := <-got; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body read error %v, want io.ErrUnexpectedEOF", err)
	}
	h.WaitLog("7 bytes short")
}

func TestDataAfterBodyLogged(t *testing.T) {
	release := make(chan struct{})
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		<-release
	}))
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "1")+"ab")
	h.WaitLog("data after the request body")
	close(release)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "Status: 200 OK") {
		t.Errorf("response %q", b)
	}
}

// TestDataAfterBodyFastHandler: a handler that returns before the
// connection is watched (WatchAfter) still has the bytes that came after
// the body logged, and its response reaches the peer whole.
func TestDataAfterBodyFastHandler(t *testing.T) {
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
	}))
	resp, err := h.Exchange(head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "1") + "ab")
	if err != nil || !strings.HasPrefix(resp, "Status: 200 OK") {
		t.Fatalf("response %q, %v", resp, err)
	}
	h.WaitLog("data after the request body")
}

func TestPanics(t *testing.T) {
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantResp  string
		wantReset bool
		wantLog   string
	}{
		{"before writing", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Lost", "1")
			w.Write([]byte("partial, still buffered"))
			panic("boom")
		}, "Status: 500 Internal Server Error\r\n", false, "handler panic serving /p: boom"},
		{"after flushing", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic("late boom")
		}, "Status: 200 OK\r\n", true, "late boom"},
		{"ErrAbortHandler", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, "Status: 200 OK\r\n", true, ""},
		{"short of Content-Length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("partial"))
		}, "Status: 200 OK\r\n", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, tt.handler)
			got, err := h.Exchange(head("REQUEST_METHOD", "GET", "REQUEST_URI", "/p"))
			if !strings.HasPrefix(got, tt.wantResp) {
				t.Errorf("response %q, want prefix %q", got, tt.wantResp)
			}
			if reset := errors.Is(err, syscall.ECONNRESET); reset != tt.wantReset {
				t.Errorf("read error %v; want a reset: %v", err, tt.wantReset)
			}
			if tt.wantLog != "" {
				h.WaitLog(tt.wantLog)
			} else if strings.Contains(h.Logs.String(), "panic") {
				t.Errorf("logged %s", h.Logs.String())
			}
		})
	}
}

func TestConnectAndCloseNotLogged(t *testing.T) {
	h := start(t, echo)
	h.Dial().Close()
	// A bad request after it, on another connection, is the first line logged.
	h.Exchange("bad\n\n")
	h.WaitLog("no = in")
	if n := strings.Count(h.Logs.String(), "\n"); n != 1 {
		t.Errorf("%d lines logged:\n%s", n, h.Logs.String())
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	h := start(t, echo, func(s *Server) { s.ReadHeaderTimeout = 50 * time.Millisecond })
	for _, partial := range []string{"", "REQUEST_METHOD=GET\n"} {
		got, err := h.Exchange(partial) // the server closes the connection
		if got != "" || err != nil {
			t.Errorf("after %q: %q, %v", partial, got, err)
		}
	}
	h.WaitLog("timeout")
}

func TestReadTimeoutInBody(t *testing.T) {
	got := make(chan error, 1)
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- err
	}), func(s *Server) { s.ReadTimeout = 100 * time.Millisecond })
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "10")+"abc")
	if err := <-got; !isTimeout(err) {
		t.Errorf("body read error %v, want a timeout", err)
	}
}

func TestWriteTimeout(t *testing.T) {
	got := make(chan error, 1)
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				<-r.Context().Done()
				got <- err
				return
			}
		}
	}), func(s *Server) { s.WriteTimeout = 100 * time.Millisecond })
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "GET")) // and never read
	if err := <-got; !isTimeout(err) {
		t.Errorf("write error %v, want a timeout", err)
	}
}

func TestLingerKeepsResponse(t *testing.T) {
	// The handler answers without reading a large body. Closing at once
	// would reset the connection while the client still sends: its writes
	// would fail and it could lose the response.
	// The linger is long here: sending 8 MiB under -race on a loaded
	// machine may take longer than the real one-second bound.
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("early"))
	}), func(s *Server) { s.linger = time.Minute })
	const size = 8 << 20
	for range 5 {
		c := h.Dial()
		werr := make(chan error, 1)
		go func() {
			io.WriteString(c, head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", fmt.Sprint(size)))
			_, err := c.Write(make([]byte, size))
			werr <- err
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || !strings.HasSuffix(string(b), "\r\n\r\nearly") {
			t.Fatalf("response %q, %v", b, err)
		}
		if err := <-werr; err != nil {
			t.Fatalf("sending the body: %v", err)
		}
		c.Close()
	}
}

func TestBodyAfterHandlerReturns(t *testing.T) {
	got := make(chan error, 1)
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() {
			time.Sleep(50 * time.Millisecond)
			_, err := r.Body.Read(make([]byte, 1))
			got <- err
		}()
	}))
	resp, err := h.Exchange(head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "5"))
	if err != nil || !strings.HasPrefix(resp, "Status: 200 OK") {
		t.Fatalf("response %q, %v", resp, err)
	}
	if err := <-got; err != http.ErrBodyReadAfterClose {
		t.Errorf("late read: %v", err)
	}
}

func TestPipe(t *testing.T) {
	// net.Pipe has no half-close and no deadlines worth the name; a
	// connection over it must still be served and closed.
	testutil.CheckLeaks(t, "oneshot.(*")
	srv := &Server{Protocol: lineProto, Handler: echo, MaxHeadBytes: 4096}
	client, server := net.Pipe()
	ln := &oneConnListener{c: server, done: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	io.WriteString(client, head("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "2")+"hi")
	b, err := io.ReadAll(client)
	if err != nil || !strings.HasSuffix(string(b), "POST / cl=2 body=hi") {
		t.Errorf("response %q, %v", b, err)
	}
	srv.Close()
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
}

func (l *oneConnListener) Addr() net.Addr { return pipeAddr{} }

// goroutineID is the id of the calling goroutine, from its stack's header
// line ("goroutine 7 [running]:").
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := strings.Cut(strings.TrimPrefix(string(buf), "goroutine "), " ")
	return id
}

// idleWorkers counts the goroutines waiting in work for a connection.
func idleWorkers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "oneshot.(*Server).work(") {
			n++
		}
	}
	return n
}

// TestGoroutineReused: a connection that comes after another was served is
// served by the same goroutine, which waited for it; after Close none is
// left (the harness's leak check).
func TestGoroutineReused(t *testing.T) {
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, goroutineID())
	}))
	first, err := h.Exchange(head("REQUEST_METHOD", "GET"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for idleWorkers() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines wait for a connection after the first one, want 1", idleWorkers())
		}
		runtime.Gosched()
	}
	second, err := h.Exchange(head("REQUEST_METHOD", "GET"))
	if err != nil {
		t.Fatal(err)
	}
	_, id1, _ := strings.Cut(first, "\r\n\r\n")
	_, id2, _ := strings.Cut(second, "\r\n\r\n")
	if id1 == "" || id1 != id2 {
		t.Errorf("served by goroutines %q and %q, want one", id1, id2)
	}
}
