package worker

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

// serveHTTP serves h with the worker's HTTP server and the default config
// on a loopback port, until the test ends, and returns the address.
func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	cfg, err := config.Parse("t.toml", nil, config.Overrides{}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newHTTPServer(cfg, h, "http", zerolog.Nop())
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// A chunked request, with or without a Content-Length beside it, is the
// connection's last: what follows its body is never served as a request
// (request smuggling, RFC 9112 §6.1). A plain request keeps the
// connection.
func TestHTTPServerClosesAfterChunkedRequest(t *testing.T) {
	addr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.URL.Path)
	}))

	const next = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tt := range []struct {
		name, head, body string
		paths            []string // the paths served, in order
	}{
		{"plain", "Content-Length: 2\r\n", "ab", []string{"/first", "/smuggled"}},
		{"chunked", "Transfer-Encoding: chunked\r\n", "2\r\nab\r\n0\r\n\r\n", []string{"/first"}},
		{"chunked + length", "Content-Length: 12\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n", []string{"/first"}},
		{"length + chunked", "Transfer-Encoding: chunked\r\nContent-Length: 99\r\n", "0\r\n\r\n", []string{"/first"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "POST /first HTTP/1.1\r\nHost: x\r\n"+tt.head+"\r\n"+tt.body+next)
			c.(*net.TCPConn).CloseWrite()
			br := bufio.NewReader(c)
			var paths []string
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				b, _ := io.ReadAll(resp.Body)
				paths = append(paths, string(b))
			}
			if strings.Join(paths, " ") != strings.Join(tt.paths, " ") {
				t.Fatalf("served %q, want %q", paths, tt.paths)
			}
		})
	}
}

// The HTTP/2 preface on a listener without h2c gets 505 and a close; the
// app never sees a "PRI *" request.
func TestHTTPServerRefusesH2PrefaceWithoutH2C(t *testing.T) {
	served := make(chan string, 1)
	addr := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- r.Method
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusHTTPVersionNotSupported || !resp.Close {
		t.Fatalf("status %d, close %v; want 505 and a close", resp.StatusCode, resp.Close)
	}
	select {
	case m := <-served:
		t.Fatalf("the app was called with %s", m)
	default:
	}
}

// With worker_connections = 1, a plain request is served on the fast
// path, a chunked one by net/http after the handoff, and each connection's
// slot comes back when it closes, whichever server had it: the third
// connection is served only if the handed-off one gave its slot back.
func TestHTTPServerHandoffGivesSlotBack(t *testing.T) {
	cfg, err := config.Parse("t.toml", nil, config.Overrides{}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.WorkerConnections = 1
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newHTTPServer(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%T", w)
	}), "http", zerolog.Nop())
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })

	for _, tt := range []struct{ name, req, writer string }{
		{"fast path", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "*http1.response"},
		{"handed off", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", "*http.response"},
		{"after both", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "*http1.response"},
	} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, tt.req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			t.Fatalf("%s: %v (no slot free?)", tt.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if string(b) != tt.writer {
			t.Fatalf("%s: served by %s, want %s", tt.name, b, tt.writer)
		}
	}
}

// Serve returns http.ErrServerClosed, with its listener closed, after
// Shutdown or Close, also when it starts after them: a drain that begins
// before the serving goroutine ran (the master killed right after the
// worker said ready) must not leave an accept loop behind that nothing
// closes. Both the fast path and net/http's own loop (h2c) are covered.
func TestHTTPServerServeEndsAfterStop(t *testing.T) {
	cfg, err := config.Parse("t.toml", nil, config.Overrides{}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	stops := map[string]func(*httpServer) error{
		"Shutdown": func(s *httpServer) error { return s.Shutdown(t.Context()) },
		"Close":    (*httpServer).Close,
	}
	for _, h2c := range []bool{false, true} {
		for name, stop := range stops {
			for _, before := range []bool{false, true} {
				t.Run(fmt.Sprintf("h2c=%v/%s/before=%v", h2c, name, before), func(t *testing.T) {
					l, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					s := newHTTPServer(cfg, http.NotFoundHandler(), "http", zerolog.Nop())
					if h2c {
						s.srv.Protocols = new(http.Protocols)
						s.srv.Protocols.SetHTTP1(true)
						s.srv.Protocols.SetUnencryptedHTTP2(true)
					}
					served := make(chan error, 1)
					if before {
						if err := stop(s); err != nil {
							t.Fatal(err)
						}
						go func() { served <- s.Serve(l) }()
					} else {
						go func() { served <- s.Serve(l) }()
						// Serve is accepting once a connection is answered.
						resp, err := http.Get("http://" + l.Addr().String() + "/")
						if err != nil {
							t.Fatal(err)
						}
						resp.Body.Close()
						if err := stop(s); err != nil {
							t.Fatal(err)
						}
					}
					select {
					case err := <-served:
						if err != http.ErrServerClosed {
							t.Fatalf("Serve returned %v, want http.ErrServerClosed", err)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("Serve still accepting 10 s after the stop")
					}
					if err := l.Close(); err == nil {
						t.Error("Serve returned with its listener open")
					}
				})
			}
		}
	}
}
