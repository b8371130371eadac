package scgi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
	"github.com/rs/zerolog"
)

// harness is a scgi Server under test.
type harness struct {
	*testutil.Harness
	srv *Server
}

func start(t *testing.T, h http.Handler) *harness {
	t.Helper()
	logs := &testutil.Buffer{}
	srv := &Server{Handler: h, Log: peerlog.New(zerolog.New(logs), "scgi"), ReadHeaderTimeout: 5 * time.Second}
	return &harness{testutil.Serve(t, srv, logs, "oneshot.(*", "scgi.(*"), srv}
}

// dump answers with what it was given.
var dump = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Remote", r.RemoteAddr)
	fmt.Fprintf(w, "%s %s host=%s cl=%d ua=%s body=%q err=%v", r.Method, r.URL, r.Host, r.ContentLength, r.UserAgent(), b, err)
})

// nginxReq is what nginx 1.22 sends with the Debian scgi_params.
func nginxReq(method, uri string, body string, extra ...string) string {
	kv := []string{"CONTENT_LENGTH", fmt.Sprint(len(body)), "QUERY_STRING", "", "REQUEST_METHOD", method,
		"CONTENT_TYPE", "", "DOCUMENT_URI", uri, "DOCUMENT_ROOT", "/srv", "SCGI", "1",
		"SERVER_PROTOCOL", "HTTP/1.1", "REQUEST_SCHEME", "http", "REQUEST_URI", uri,
		"REMOTE_ADDR", "192.0.2.7", "REMOTE_PORT", "40000", "SERVER_PORT", "8080", "SERVER_NAME", "localhost",
		"HTTP_HOST", "example.com", "HTTP_USER_AGENT", "curl/7.88.1"}
	return ns(append(kv, extra...)...) + body
}

func TestServe(t *testing.T) {
	ok := func(body string) string {
		return fmt.Sprintf("Status: 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\nX-Remote: 192.0.2.7:40000\r\n\r\n%s", len(body), body)
	}
	const headBody = `HEAD http://example.com/ host=example.com cl=0 ua=curl/7.88.1 body="" err=<nil>`
	bad400 := "Status: 400 Bad Request\r\nContent-Length: 12\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\nBad Request\n"
	tests := []struct {
		name, req, want, log string
	}{
		{"GET", nginxReq("GET", "/a?b=c", ""), ok(`GET http://example.com/a?b=c host=example.com cl=0 ua=curl/7.88.1 body="" err=<nil>`), ""},
		{"POST", nginxReq("POST", "/p", "hello"), ok(`POST http://example.com/p host=example.com cl=5 ua=curl/7.88.1 body="hello" err=<nil>`), ""},
		{"HEAD", nginxReq("HEAD", "/", ""), strings.TrimSuffix(ok(headBody), headBody), ""},
		{"body shorter than CONTENT_LENGTH, then EOF", nginxReq("POST", "/p", "hello")[:len(nginxReq("POST", "/p", "hello"))-2],
			ok(`POST http://example.com/p host=example.com cl=5 ua=curl/7.88.1 body="hel" err=reading the body, 2 bytes short: unexpected EOF`), "2 bytes short"},
		{"body longer than CONTENT_LENGTH", nginxReq("POST", "/p", "hello") + "EXTRA",
			ok(`POST http://example.com/p host=example.com cl=5 ua=curl/7.88.1 body="hello" err=<nil>`), "data after the request body"},

		// §6.17: a broken netstring closes the connection.
		{"empty length", ":,", "", "empty length"},
		{"non-digit length", "1x:", "", `'x' in the length`},
		{"leading zero", "024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,", "", "leading zero"},
		{"negative length", "-1:", "", `'-' in the length`},
		{"20 digits", "12345678901234567890:", "", "limit"},
		{"missing comma", strings.TrimSuffix(nginxReq("GET", "/", ""), ",") + "X", "", "instead of the comma"},
		{"EOF before the declared length", "500:CONTENT_LENGTH\x000\x00", "", "reading 500 bytes of headers: unexpected EOF"},
		{"EOF in the length", "12", "", "reading the length: unexpected EOF"},
		{"HTTP to the SCGI port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", `'G' in the length`},

		// §6.18: a well-formed netstring with bad headers gets 400.
		{"CONTENT_LENGTH missing", ns("SCGI", "1", "REQUEST_METHOD", "GET"), bad400, "not CONTENT_LENGTH"},
		{"CONTENT_LENGTH not first", ns("REQUEST_METHOD", "GET", "CONTENT_LENGTH", "0", "SCGI", "1"), bad400, "not CONTENT_LENGTH"},
		{"CONTENT_LENGTH not digits", ns("CONTENT_LENGTH", "5x", "SCGI", "1", "REQUEST_METHOD", "GET"), bad400, "is not a number"},
		{"CONTENT_LENGTH duplicated", ns("CONTENT_LENGTH", "0", "SCGI", "1", "CONTENT_LENGTH", "0"), bad400, "duplicate header"},
		{"SCGI missing", ns("CONTENT_LENGTH", "0", "REQUEST_METHOD", "GET"), bad400, "no SCGI header"},
		{"SCGI not 1", ns("CONTENT_LENGTH", "0", "SCGI", "2", "REQUEST_METHOD", "GET"), bad400, `SCGI is \"2\"`},
		{"odd string count", ns("CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_METHOD"), bad400, "has no value"},
		{"no trailing NUL", rawNS("CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET"), bad400, "do not end with NUL"},
		{"empty name", ns("CONTENT_LENGTH", "0", "SCGI", "1", "", "x"), bad400, "empty header name"},
		{"no REQUEST_METHOD", ns("CONTENT_LENGTH", "0", "SCGI", "1"), bad400, "no REQUEST_METHOD"},
		{"bad REQUEST_URI", ns("CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_METHOD", "GET", "REQUEST_URI", "x y"), bad400, "invalid request URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, dump) // its own logger: the rate limit would drop lines
			got, local := h.RoundTrip(tt.req)
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if tt.log != "" {
				h.WaitLog(tt.log, `"peer":"`+local+`"`, `"level":"warn"`, `"proto":"scgi"`)
			}
		})
	}
}

func TestStreamingResponse(t *testing.T) {
	next := make(chan struct{})
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
			<-next
		}
	}))
	c := h.Dial()
	io.WriteString(c, nginxReq("GET", "/stream", ""))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	for i := range 3 {
		want := fmt.Sprintf("part%d;", i)
		for !bytes.HasSuffix(got, []byte(want)) {
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v (got %q)", want, err, got)
			}
			got = append(got, buf[:n]...)
		}
		next <- struct{}{}
	}
	rest, err := io.ReadAll(c)
	if err != nil || len(rest) != 0 {
		t.Errorf("after the parts: %q, %v", rest, err)
	}
	if !strings.HasPrefix(string(got), "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\npart0;") ||
		strings.Contains(string(got), "Transfer-Encoding") {
		t.Errorf("response %q", got)
	}
}

func TestPeerGoneCancelsContext(t *testing.T) {
	cause := make(chan error, 1)
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		<-r.Context().Done()
		cause <- context.Cause(r.Context())
	}))
	c := h.Dial()
	io.WriteString(c, nginxReq("POST", "/", "body"))
	c.Close()
	if err := <-cause; err == nil || !strings.Contains(err.Error(), "peer closed") {
		t.Errorf("cause %v", err)
	}
}

func TestMaxVarsBytes(t *testing.T) {
	testutil.CheckLeaks(t, "oneshot.(*", "scgi.(*")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: dump, MaxVarsBytes: 100}
	go srv.Serve(ln)
	defer srv.Close()
	for _, tt := range []struct {
		size int
		want string
	}{{100, "Status: 200 OK"}, {101, ""}} {
		req := ns("CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_METHOD", "GET", "X", "")
		content := len(req) - strings.IndexByte(req, ':') - 2
		req = ns("CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_METHOD", "GET", "X", strings.Repeat("v", tt.size-content))
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, req)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || !strings.HasPrefix(string(b), tt.want) || (tt.want == "" && len(b) > 0) {
			t.Errorf("netstring of %d bytes: %q, %v", tt.size, b, err)
		}
	}
}

// Shutdown and Close are oneshot.Server's, called through one-line
// methods: worker/cgivars/oneshot's shutdown tests cover them (a request
// let finish, the deadline closing the rest, silent connections).

func TestPipe(t *testing.T) {
	testutil.CheckLeaks(t, "oneshot.(*", "scgi.(*")
	client, server := net.Pipe()
	srv := &Server{Handler: dump}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(&pipeListener{c: server, closed: make(chan struct{})}) }()
	go io.WriteString(client, nginxReq("PUT", "/x", "data"))
	b, err := io.ReadAll(client)
	if err != nil || !strings.Contains(string(b), `PUT http://example.com/x host=example.com cl=4 ua=curl/7.88.1 body="data"`) {
		t.Errorf("response %q, %v", b, err)
	}
	srv.Close()
	if err := <-done; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
}

// pipeListener hands out one connection, then waits to be closed.
type pipeListener struct {
	mu     sync.Mutex
	c      net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "unix"} }
