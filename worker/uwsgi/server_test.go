package uwsgi

import (
	"bufio"
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
	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
	"github.com/rs/zerolog"
)

// harness is a uwsgi Server under test.
type harness struct {
	*testutil.Harness
	srv *Server
}

func start(t *testing.T, h http.Handler) *harness {
	t.Helper()
	logs := &testutil.Buffer{}
	srv := &Server{Handler: h, Log: peerlog.New(zerolog.New(logs), "uwsgi"), ReadHeaderTimeout: 5 * time.Second}
	return &harness{testutil.Serve(t, srv, logs, "oneshot.(*", "uwsgi.(*"), srv}
}

// dump answers with what it was given.
var dump = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s cl=%d te=%v path_info=%s x=%s body=%q err=%v", r.Method, r.URL, r.ContentLength,
		r.TransferEncoding, cgivars.Env(r)["PATH_INFO"], r.Header.Get("X-A"), b, err)
})

// nginxReq is what nginx 1.22 sends with the Debian uwsgi_params, plus extra.
func nginxReq(mod1 byte, method, uri, cl, body string, extra ...string) string {
	path, query, _ := strings.Cut(uri, "?")
	kv := []string{"QUERY_STRING", query, "REQUEST_METHOD", method, "CONTENT_TYPE", "", "CONTENT_LENGTH", cl,
		"REQUEST_URI", uri, "PATH_INFO", path, "DOCUMENT_ROOT", "/srv", "SERVER_PROTOCOL", "HTTP/1.1",
		"REQUEST_SCHEME", "http", "REMOTE_ADDR", "192.0.2.7", "REMOTE_PORT", "40000", "SERVER_PORT", "8080",
		"SERVER_NAME", "localhost", "HTTP_HOST", "example.com"}
	return pkt(mod1, 0, vars(append(kv, extra...)...)) + body
}

func ok(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s", len(body), body)
}

const bad400 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n\r\nBad Request\n"

func TestServe(t *testing.T) {
	get := vars("REQUEST_METHOD", "GET", "REQUEST_URI", "/")
	const headBody = `HEAD http://example.com/ cl=0 te=[] path_info=/ x= body="" err=<nil>`
	tests := []struct {
		name, req, want, log string
	}{
		{"GET", nginxReq(0, "GET", "/a?b=c", "", ""), ok(`GET http://example.com/a?b=c cl=0 te=[] path_info=/a x= body="" err=<nil>`), ""},
		{"HEAD", nginxReq(0, "HEAD", "/", "", ""), strings.TrimSuffix(ok(headBody), headBody), ""},
		{"POST", nginxReq(0, "POST", "/p", "5", "hello"), ok(`POST http://example.com/p cl=5 te=[] path_info=/p x= body="hello" err=<nil>`), ""},
		{"modifier1 30", nginxReq(30, "GET", "/app/x", "", "", "SCRIPT_NAME", "/app"), ok(`GET http://example.com/app/x cl=0 te=[] path_info=/x x= body="" err=<nil>`), ""},
		{"modifier2 not 0", pkt(0, 9, get), "HTTP/1.1 200 OK\r\n", ""},
		{"repeated header merged", nginxReq(0, "GET", "/", "", "", "HTTP_X_A", "1", "HTTP_X_A", "2"), ok(`GET http://example.com/ cl=0 te=[] path_info=/ x=1, 2 body="" err=<nil>`), ""},

		// §6.23: the body length comes from CONTENT_LENGTH only.
		{"CONTENT_LENGTH absent: no body", pkt(0, 0, vars("REQUEST_METHOD", "POST", "REQUEST_URI", "/")) + "ignored",
			"HTTP/1.1 200 OK\r\n", "data after the request body"},
		{"CONTENT_LENGTH empty: no body", nginxReq(0, "POST", "/", "", "ignored"),
			ok(`POST http://example.com/ cl=0 te=[] path_info=/ x= body="" err=<nil>`), "data after the request body"},
		{"CONTENT_LENGTH not a number", nginxReq(0, "POST", "/", "12a", "body"), bad400, "invalid CONTENT_LENGTH"},
		{"chunked without CONTENT_LENGTH is decoded", nginxReq(0, "POST", "/", "", "5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n", "HTTP_TRANSFER_ENCODING", "chunked"),
			ok(`POST http://example.com/ cl=-1 te=[chunked] path_info=/ x= body="hello!" err=<nil>`), ""},
		{"chunked with CONTENT_LENGTH (nginx buffered it)", nginxReq(0, "POST", "/", "5", "hello", "HTTP_TRANSFER_ENCODING", "chunked"),
			ok(`POST http://example.com/ cl=5 te=[] path_info=/ x= body="hello" err=<nil>`), ""},
		{"bad chunked body", nginxReq(0, "POST", "/", "", "zz\r\n", "HTTP_TRANSFER_ENCODING", "chunked"),
			"HTTP/1.1 200 OK\r\n", "reading the chunked body"},
		{"body shorter than CONTENT_LENGTH, then EOF", nginxReq(0, "POST", "/", "10", "short"),
			ok(`POST http://example.com/ cl=10 te=[] path_info=/ x= body="short" err=reading the body, 5 bytes short: unexpected EOF`), "5 bytes short"},

		// §6.20–22: a bad packet closes the connection; a bad block gets 400.
		{"datasize larger than the data", pkt(0, 0, get)[:10], "", "unexpected EOF"},
		{"datasize smaller than the vars", pkt(0, 0, get[:5]) + get[5:], bad400, "overruns the vars block"},
		{"datasize 0", pkt(0, 0, ""), bad400, "no REQUEST_METHOD"},
		{"keylen 0", pkt(0, 0, get+vars("", "x")), bad400, "empty key"},
		{"vallen overruns", pkt(0, 0, get+"\x01\x00K\xff\x00"), bad400, "overruns the vars block"},
		{"one trailing byte", pkt(0, 0, get+"!"), bad400, "stray byte"},
		{"modifier1 100", pkt(100, 0, ""), "", "unsupported modifier1 100"},
		{"modifier1 72", pkt(72, 0, get), "", "unsupported modifier1 72"},
		{"modifier1 255", pkt(255, 0, get), "", "unsupported modifier1 255"},
		{"raw HTTP to the uwsgi port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", "unsupported modifier1 71"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, dump) // its own logger: the rate limit would drop lines
			got, local := h.RoundTrip(tt.req)
			if strings.HasSuffix(tt.want, "\r\n") && !strings.HasSuffix(tt.want, "\r\n\r\n") {
				if !strings.HasPrefix(got, tt.want) {
					t.Errorf("got\n%q\nwant prefix\n%q", got, tt.want)
				}
			} else if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if strings.Contains(got, "Transfer-Encoding") || strings.Contains(got, "Status:") {
				t.Errorf("response has Transfer-Encoding or Status: %q", got)
			}
			if tt.log != "" {
				h.WaitLog(tt.log, `"peer":"`+local+`"`, `"level":"warn"`, `"proto":"uwsgi"`)
			}
		})
	}
}

func TestResponseIsHTTP(t *testing.T) {
	// The uWSGI router and mod_proxy_uwsgi pass the response on as HTTP: it
	// must parse as one, streamed or not.
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusCreated)
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	}))
	raw, _ := h.RoundTrip(nginxReq(0, "POST", "/", "0", ""))
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 201 || resp.Header.Get("Location") != "/elsewhere" || string(body) != "part0;part1;part2;" ||
		resp.TransferEncoding != nil {
		t.Errorf("response %+v %q %v", resp, body, err)
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
	io.WriteString(c, nginxReq(0, "POST", "/", "4", "body"))
	c.Close()
	if err := <-cause; err == nil || !strings.Contains(err.Error(), "peer closed") {
		t.Errorf("cause %v", err)
	}
}

func TestPanicAnswers500(t *testing.T) {
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var empty []int
		_ = empty[len(r.URL.Path)] // a runtime error
	}))
	got, local := h.RoundTrip(nginxReq(0, "GET", "/boom", "", ""))
	if !strings.HasPrefix(got, "HTTP/1.1 500 Internal Server Error\r\n") {
		t.Errorf("response %q", got)
	}
	h.WaitLog("handler panic serving /boom", "index out of range", local)
}

// Shutdown and Close are oneshot.Server's, called through one-line
// methods: worker/cgivars/oneshot's shutdown tests cover them (a request
// let finish, the deadline closing the rest, silent connections).

func TestMaxConns(t *testing.T) {
	testutil.CheckLeaks(t, "oneshot.(*", "uwsgi.(*")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var served []string
	release := make(chan struct{})
	srv := &Server{MaxConns: 1, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/first" {
			<-release
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	dial := func(path string) net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, nginxReq(0, "GET", path, "", ""))
		return c
	}
	first := dial("/first")
	defer first.Close()
	for {
		mu.Lock()
		n := len(served)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	second := dial("/second")
	defer second.Close()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if len(served) != 1 {
		t.Errorf("served %v while the only slot was taken", served)
	}
	mu.Unlock()
	close(release)
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(second); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") {
		t.Errorf("second: %q, %v", b, err)
	}
}
