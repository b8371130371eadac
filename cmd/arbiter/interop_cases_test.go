package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// The checks TestInterop (interop_test.go) runs for each row.

// testGet: query strings, path, Host and the client's address arrive.
func (e *interopEnv) testGet(t *testing.T, row interopRow) {
	for _, q := range []string{"", "a=1", "a=1&b=x%20y&c=%E2%9C%93&d=&e", "q=%2F%3F%23&q=2&long=" + strings.Repeat("z", 2000)} {
		target := e.url(row, "/echo")
		if q != "" {
			target += "?" + q
		}
		req, _ := http.NewRequest("GET", target, nil)
		var local string
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { local = ci.Conn.LocalAddr().String() },
		}))
		_, body := e.do(t, req)
		rep := decode[echo.Reply](t, body)
		wantHost := "127.0.0.1"
		if row.hostPort {
			wantHost = e.ng.Addr
		}
		if rep.Method != "GET" || rep.Path != "/"+row.name+"/echo" || rep.Query != q ||
			rep.Protocol != row.listener || rep.Host != wantHost || rep.BodyLength != 0 {
			t.Errorf("GET ?%s: reply %+v", q, rep)
		}
		// The CGI protocols carry the client's address (REMOTE_ADDR and
		// REMOTE_PORT); over HTTP the peer is nginx.
		if row.listener != "http" && rep.RemoteAddr != local {
			t.Errorf("GET ?%s: remote_addr %q, want the client's %q", q, rep.RemoteAddr, local)
		}
	}
}

func (e *interopEnv) testHead(t *testing.T, row interopRow) {
	req, _ := http.NewRequest("HEAD", e.url(row, "/echo?h=1"), nil)
	resp, body := e.do(t, req)
	if len(body) != 0 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: body %q, headers %v", body, resp.Header)
	}
	// The same request with GET still works on the same client connection.
	req, _ = http.NewRequest("GET", e.url(row, "/echo?h=1"), nil)
	_, body = e.do(t, req)
	if rep := decode[echo.Reply](t, body); rep.Method != "GET" {
		t.Errorf("GET after HEAD: %+v", rep)
	}
}

// onlyReader hides bytes.Reader's Len, so that the client cannot know the
// length and sends the body chunked.
type onlyReader struct{ io.Reader }

type checksum struct {
	SHA256           string   `json:"sha256"`
	Length           int64    `json:"length"`
	ContentLength    int64    `json:"content_length"`
	TransferEncoding []string `json:"transfer_encoding"`
	Protocol         string   `json:"protocol"`
}

func (e *interopEnv) testPost(t *testing.T, row interopRow, chunked bool) {
	var body io.Reader = bytes.NewReader(e.body)
	if chunked {
		body = onlyReader{body}
	}
	req, _ := http.NewRequest("POST", e.url(row, "/sha256"), body)
	req.Header.Set("Content-Type", "application/octet-stream")
	if chunked && req.ContentLength != 0 {
		t.Fatalf("client would not send chunked: ContentLength %d", req.ContentLength)
	}
	_, out := e.do(t, req)
	got := decode[checksum](t, out)
	if got.SHA256 != e.sum || got.Length != int64(len(e.body)) || got.Protocol != row.listener {
		t.Fatalf("upload of %d bytes (chunked %v): app saw %+v, want sha256 %s", len(e.body), chunked, got, e.sum)
	}
	wantCL, wantTE := int64(len(e.body)), []string(nil)
	if chunked && row.streamsChunked {
		wantCL, wantTE = -1, []string{"chunked"}
	}
	if got.ContentLength != wantCL || !slices.Equal(got.TransferEncoding, wantTE) {
		t.Errorf("chunked %v: ContentLength %d, TransferEncoding %v; want %d, %v",
			chunked, got.ContentLength, got.TransferEncoding, wantCL, wantTE)
	}
}

type headersReply struct {
	Host    string      `json:"host"`
	Headers http.Header `json:"headers"`
}

func (e *interopEnv) testHeaders(t *testing.T, row interopRow) {
	req, _ := http.NewRequest("GET", e.url(row, "/headers"), nil)
	want := http.Header{}
	for i := range 60 {
		k := fmt.Sprintf("X-Interop-%02d", i)
		v := fmt.Sprintf("value %d; %s.", i, strings.Repeat("v", i*3))
		req.Header.Set(k, v)
		want.Set(k, v)
	}
	// A repeated header: nginx before 1.23 sends one HTTP_* variable per
	// header line; the app must get every value (RFC 3875 §4.1.18: merged),
	// as it does over HTTP.
	req.Header["X-Forwarded-For"] = []string{"192.0.2.1", "192.0.2.2"}
	req.Header["Cookie"] = []string{"a=1", "b=2"}
	_, body := e.do(t, req)
	got := decode[headersReply](t, body).Headers
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("header %s: got %q, want %q", k, got[k], v)
		}
	}
	if xff := strings.Join(got["X-Forwarded-For"], ", "); xff != "192.0.2.1, 192.0.2.2" {
		t.Errorf("repeated X-Forwarded-For: got %q, want both values", got["X-Forwarded-For"])
	}
	if c := strings.Join(got["Cookie"], "; "); c != "a=1; b=2" {
		t.Errorf("repeated Cookie: got %q, want both values", got["Cookie"])
	}
}

// testStream proves that chunks reach the client before the handler
// finishes: the handler waits after its first chunk until the gate file
// exists, and the test creates it only once it has read that chunk.
func (e *interopEnv) testStream(t *testing.T, row interopRow) {
	gate := "gate-" + row.name
	resp, err := e.client.Get(e.url(row, "/stream?n=4&gate="+gate))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "chunk 0\n" {
		t.Fatalf("first chunk %q, %v", first, err)
	}
	if err := os.WriteFile(filepath.Join(e.state, gate), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "chunk 1\nchunk 2\nchunk 3\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if resp.ContentLength != -1 {
		t.Errorf("streamed response has Content-Length %d", resp.ContentLength)
	}
}

// testSequential sends 1000 requests one after another through the relay
// and counts nginx's upstream connections: one per request without
// connection reuse, a handful with it (keep-conn + keepalive).
func (e *interopEnv) testSequential(t *testing.T, row interopRow) {
	const n = 1000
	r := e.relays[row.name]
	before := r.Accepted()
	peers := map[string]bool{}
	for i := range n {
		req, _ := http.NewRequest("GET", e.ng.URL(fmt.Sprintf("/%s-relay/echo?i=%d", row.name, i)), nil)
		_, body := e.do(t, req)
		rep := decode[echo.Reply](t, body)
		if rep.Query != fmt.Sprintf("i=%d", i) || rep.Protocol != row.listener {
			t.Fatalf("request %d: reply %+v", i, rep)
		}
		peers[rep.RemoteAddr] = true
	}
	conns := r.Accepted() - before
	if row.keepalive {
		if conns < 1 || conns > 8 {
			t.Errorf("%d requests over %d upstream connections; want reuse (1..8)", n, conns)
		}
	} else if conns != n {
		t.Errorf("%d requests over %d upstream connections; want one each", n, conns)
	}
	// Over HTTP the app sees the upstream connection itself (the relay's
	// side) as its peer: never more distinct peers than connections, and,
	// without reuse, many (not all: a closed connection's ephemeral port
	// may be reused by a later one).
	if row.listener == "http" && (int64(len(peers)) > conns || !row.keepalive && int64(len(peers)) < conns/2) {
		t.Errorf("app saw %d distinct peers over %d connections", len(peers), conns)
	}
	t.Logf("%d requests, %d upstream connections", n, conns)
}

// testAbort: a client reads the start of a slow response and hangs up.
// nginx closes the upstream connection; the handler, which writes nothing
// more, must see its context cancelled; the worker keeps serving.
func (e *interopEnv) testAbort(t *testing.T, row interopRow) {
	id := "abort-" + row.name
	c, err := net.Dial("tcp", e.ng.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /%s/slow?tick=1h&max=25s&id=%s HTTP/1.1\r\nHost: %s\r\n\r\n", row.name, id, e.ng.Addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if resp.StatusCode != 200 || line != "started\n" {
		t.Fatalf("status %d, first line %q, %v", resp.StatusCode, line, err)
	}
	c.Close()

	cancelled := filepath.Join(e.state, "cancelled-"+id)
	proctest.Eventually(t, 20*time.Second, "the handler's context to be cancelled", func() bool {
		_, err := os.Stat(cancelled)
		return err == nil
	})
	cause, _ := os.ReadFile(cancelled)
	if len(bytes.TrimSpace(cause)) == 0 {
		t.Errorf("cancellation recorded without a cause")
	}
	if _, err := os.Stat(filepath.Join(e.state, "finished-"+id)); err == nil {
		t.Errorf("the handler also finished")
	}
	t.Logf("context cause: %s", bytes.TrimSpace(cause))
	req, _ := http.NewRequest("GET", e.url(row, "/echo?after=abort"), nil)
	_, body := e.do(t, req)
	if rep := decode[echo.Reply](t, body); rep.Query != "after=abort" {
		t.Errorf("after the abort: %+v", rep)
	}
}

// testIdle: arbiter closes a kept upstream connection after keepalive (1s)
// without a request; nginx notices, drops it from its cache and opens a new
// one for the next request, without an error.
func (e *interopEnv) testIdle(t *testing.T, row interopRow) {
	r := e.relays[row.name]
	get := func(q string) {
		req, _ := http.NewRequest("GET", e.ng.URL("/"+row.name+"-relay/echo?"+q), nil)
		_, body := e.do(t, req)
		if rep := decode[echo.Reply](t, body); rep.Query != q {
			t.Fatalf("reply %+v", rep)
		}
	}
	get("before=idle")
	before := r.Accepted()
	// arbiter closes the kept connection after keepalive; nginx then
	// closes its end, and the relay sees both go.
	proctest.Eventually(t, 15*time.Second, "the idle upstream connection to be closed by arbiter and nginx", func() bool { return r.Open() == 0 })
	get("after=idle")
	if n := r.Accepted() - before; n != 1 {
		t.Errorf("after an idle period: %d new upstream connections, want 1 (arbiter closes idle ones)", n)
	}
}

// hostRows keep the client's Host, port included, despite Debian's
// *_params setting HTTP_HOST to $host (docs/protocols.md). FastCGI and
// uwsgi take the last of two HTTP_HOST; SCGI forbids duplicates, so its
// params are listed without HTTP_HOST and nginx passes the Host header.
var hostRows = []struct{ name, listener, location string }{
	{"fcgi-host", "fastcgi", `
		include /etc/nginx/fastcgi_params;
		fastcgi_param HTTP_HOST $http_host;
		fastcgi_pass {{up}};`},
	{"uwsgi-host", "uwsgi", `
		include /etc/nginx/uwsgi_params;
		uwsgi_param HTTP_HOST $http_host;
		uwsgi_pass {{up}};`},
	{"scgi-host", "scgi", `
		scgi_param REQUEST_METHOD  $request_method;
		scgi_param REQUEST_URI     $request_uri;
		scgi_param QUERY_STRING    $query_string;
		scgi_param CONTENT_TYPE    $content_type;
		scgi_param DOCUMENT_URI    $document_uri;
		scgi_param DOCUMENT_ROOT   $document_root;
		scgi_param SCGI            1;
		scgi_param SERVER_PROTOCOL $server_protocol;
		scgi_param REQUEST_SCHEME  $scheme;
		scgi_param HTTPS           $https if_not_empty;
		scgi_param REMOTE_ADDR     $remote_addr;
		scgi_param REMOTE_PORT     $remote_port;
		scgi_param SERVER_PORT     $server_port;
		scgi_param SERVER_NAME     $server_name;
		scgi_pass {{up}};`},
}

func (e *interopEnv) testHostPort(t *testing.T) {
	for _, h := range hostRows {
		req, _ := http.NewRequest("GET", e.ng.URL("/"+h.name+"/echo?x=1"), nil)
		_, body := e.do(t, req)
		rep := decode[echo.Reply](t, body)
		if rep.Host != e.ng.Addr || rep.Protocol != h.listener || rep.Query != "x=1" {
			t.Errorf("%s: host %q (want %q), reply %+v", h.name, rep.Host, e.ng.Addr, rep)
		}
	}
}
