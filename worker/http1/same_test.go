package http1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// echo describes the request it got in its body, and answers in the shape
// its path names.
func echo(w http.ResponseWriter, r *http.Request) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %q %s host=%q close=%v clen=%d te=%v\n", r.Method, r.RequestURI, r.Proto, r.Host, r.Close, r.ContentLength, r.TransferEncoding)
	fmt.Fprintf(&sb, "url=%q path=%q rawpath=%q query=%q\n", r.URL.String(), r.URL.Path, r.URL.RawPath, r.URL.RawQuery)
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	_, local := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	fmt.Fprintf(&sb, "remote=%s local=%v tls=%v\n", host, local, r.TLS != nil)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%q\n", k, r.Header[k])
	}
	path := r.URL.Path
	if !strings.HasPrefix(path, "/noread") {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(&sb, "body=%q err=%v\n", b, err)
	}
	h := w.Header()
	switch {
	case strings.HasPrefix(path, "/big"):
		h.Set("Content-Type", "text/plain")
		io.WriteString(w, sb.String())
		w.Write([]byte(strings.Repeat("x", 10<<10)))
	case path == "/flush":
		h.Set("Content-Type", "text/plain")
		io.WriteString(w, sb.String())
		w.(http.Flusher).Flush()
		io.WriteString(w, "more")
	case path == "/cl":
		h.Set("Content-Length", strconv.Itoa(sb.Len()))
		io.WriteString(w, sb.String())
	case path == "/204", path == "/304":
		code, _ := strconv.Atoi(path[1:])
		h.Set("X-Code", path[1:])
		w.WriteHeader(code)
	case path == "/close":
		h.Set("Connection", "close")
		io.WriteString(w, sb.String())
	case path == "/trailer":
		h.Set("Trailer", "X-T")
		io.WriteString(w, sb.String())
		h.Set("X-T", "end")
		h.Set(http.TrailerPrefix+"X-U", "too")
	case path == "/103":
		h.Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		io.WriteString(w, sb.String())
	case path == "/sniff":
		io.WriteString(w, "<html><body>hi</body></html>")
	case path == "/status":
		w.WriteHeader(599)
		io.WriteString(w, sb.String())
	case path == "/error":
		http.Error(w, "teapot", http.StatusTeapot)
	case path == "/panic":
		panic("boom")
	case path == "/abort":
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case path == "/short":
		h.Set("Content-Length", "10")
		io.WriteString(w, "12345")
	case path == "/empty":
	case path == "/multi":
		h.Add("X-A", "1")
		h.Add("X-A", "2")
		h.Set("Set-Cookie", "a=b")
		io.WriteString(w, sb.String())
	default:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, sb.String())
	}
}

const last = "GET /last HTTP/1.1\r\nHost: x\r\n\r\n"

// conversation sends raw on a new connection to addr and returns what came
// back: each response (methods says how many, and for which method), then,
// if the last one kept the connection, the answer to one more request; an
// error where reading failed.
func conversation(t *testing.T, addr, raw string, methods []string) []string {
	t.Helper()
	c, br := dial(t, addr)
	go io.WriteString(c, raw) // a large body may not be read
	var out []string
	closed := false
	for i, m := range methods {
		r, err := readReply(br, m)
		if err != nil {
			out = append(out, fmt.Sprintf("response %d: %s", i+1, errClass(err)))
			return out
		}
		out = append(out, fmt.Sprintf("%+v", r))
		closed = r.close
	}
	if !closed {
		io.WriteString(c, last)
	}
	r, err := readReply(br, "GET")
	if err != nil {
		return append(out, "then: "+errClass(err))
	}
	return append(out, fmt.Sprintf("then: %+v", r))
}

func errClass(err error) string {
	switch {
	case errors.Is(err, io.EOF), strings.Contains(err.Error(), "connection reset"):
		return "closed"
	case strings.Contains(err.Error(), "body:"):
		return "truncated body"
	}
	return err.Error()
}

// TestSameAsNetHTTP sends the same bytes to net/http and to the fast path
// in front of it, and requires the same responses: status, headers but
// Date (present in both), framing, body, trailers, and whether the
// connection stays. The handler's body says what request it saw. Cases the
// fast path hands off (chunked, Expect, bad input, big heads) check that
// the handoff replays the bytes it read.
func TestSameAsNetHTTP(t *testing.T) {
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n" }
	big := strings.Repeat("a", 300<<10)
	cases := []struct {
		name    string
		raw     string
		methods []string
	}{
		{"get", get("/"), []string{"GET"}},
		{"pipelined", get("/") + get("/big") + get("/cl"), []string{"GET", "GET", "GET"}},
		{"query and escapes", get("/a%20b/%2F?x=1&y=%zz#frag"), []string{"GET"}},
		{"head", "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", []string{"HEAD"}},
		{"head big", "HEAD /big HTTP/1.1\r\nHost: h\r\n\r\n", []string{"HEAD"}},
		{"http10", "GET / HTTP/1.0\r\n\r\n", []string{"GET"}},
		{"http10 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []string{"GET"}},
		{"http10 keep-alive big", "GET /big HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", []string{"GET"}},
		{"http10 host", "GET /cl HTTP/1.0\r\nHost: a.b:81\r\nConnection: keep-alive\r\n\r\n", []string{"GET"}},
		{"connection close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", []string{"GET"}},
		{"connection tokens", "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n", []string{"GET"}},
		{"headers", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\nx-lower: a\r\nX-A: 1\r\nx-a: 2\r\nEmpty:\r\nSpaces:  \t v  \t\r\nCookie: a=b; c=d\r\nPragma: no-cache\r\n\r\n", []string{"GET"}},
		{"obs-text", "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n", []string{"GET"}},
		{"post", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello" + get("/"), []string{"POST", "GET"}},
		{"post unread", "POST /noread HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" + get("/"), []string{"POST", "GET"}},
		{"post unread large", "POST /noread HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big, []string{"POST"}},
		{"post zero", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", []string{"POST"}},
		{"get with body", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", []string{"GET"}},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + get("/"), []string{"POST", "GET"}},
		{"chunked after fast", get("/") + "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", []string{"GET", "POST"}},
		{"smuggling", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"POST"}},
		{"expect", "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", []string{"POST"}},
		{"upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", []string{"GET"}},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", []string{"POST"}},
		{"bad length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nok", []string{"POST"}},
		{"no host", "GET / HTTP/1.1\r\n\r\n", []string{"GET"}},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []string{"GET"}},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", []string{"GET"}},
		{"odd host", "GET / HTTP/1.1\r\nHost: user@a!b\r\n\r\n", []string{"GET"}},
		{"bare lf", "GET / HTTP/1.1\nHost: h\n\n", []string{"GET"}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", []string{"GET"}},
		{"space before colon", "GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n", []string{"GET"}},
		{"control in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", []string{"GET"}},
		{"bad proto", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", []string{"GET"}},
		{"http2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", []string{"GET"}},
		{"absolute form", "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n", []string{"GET"}},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", []string{"OPTIONS"}},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", []string{"GET"}},
		{"big head", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n" + get("/"), []string{"GET", "GET"}},
		{"flush", get("/flush"), []string{"GET"}},
		{"204", get("/204"), []string{"GET"}},
		{"304", get("/304"), []string{"GET"}},
		{"handler close", get("/close"), []string{"GET"}},
		{"trailer", get("/trailer"), []string{"GET"}},
		{"early hints", get("/103"), []string{"GET", "GET"}},
		{"early hints http10", "GET /103 HTTP/1.0\r\n\r\n", []string{"GET"}},
		{"trailer http10", "GET /trailer HTTP/1.0\r\n\r\n", []string{"GET"}},
		{"crlf after post", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok\r\n" + get("/"), []string{"POST", "GET"}},
		{"crlf after get", get("/") + "\r\n" + get("/"), []string{"GET", "GET"}},
		{"sniff", get("/sniff"), []string{"GET"}},
		{"status without text", get("/status"), []string{"GET"}},
		{"http.Error", get("/error"), []string{"GET"}},
		{"empty", get("/empty"), []string{"GET"}},
		{"multi", get("/multi"), []string{"GET"}},
		{"panic", get("/panic"), []string{"GET"}},
		{"abort", get("/abort"), []string{"GET"}},
		{"short", get("/short"), []string{"GET"}},
	}
	h := http.HandlerFunc(echo)
	fast, _ := startPair(t, h)
	ref := testutil.Serve(t, std{&http.Server{Handler: h, ErrorLog: discardLog}}, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := conversation(t, ref.Addr, tc.raw, tc.methods)
			got := conversation(t, fast.Addr, tc.raw, tc.methods)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("fast path:\n%s\nnet/http:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// FuzzSameAsNetHTTP sends any bytes, then a half-close, to net/http and to
// the fast path in front of it, and requires the same responses until the
// connection ends. Heads are capped at 8 KiB of input to keep a run fast.
func FuzzSameAsNetHTTP(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /cl HTTP/1.0\r\n\r\n",
		"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc",
		"GET /trailer HTTP/1.1\r\nHost: a\r\n\r\nGET /flush HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
		"GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /close HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	} {
		f.Add(s)
	}
	h := http.HandlerFunc(echo)
	fast, _ := startPair(f, h)
	ref := testutil.Serve(f, std{&http.Server{Handler: h, ErrorLog: discardLog}}, nil)
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 8<<10 || strings.Contains(raw, "/panic") || strings.Contains(raw, "/abort") {
			return // a panic's log line is not a difference
		}
		want := halfClosed(t, ref.Addr, raw)
		got := halfClosed(t, fast.Addr, raw)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%q\nfast path:\n%s\nnet/http:\n%s", raw, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// halfClosed sends raw and half-closes, then reads responses until the
// connection ends.
func halfClosed(t *testing.T, addr, raw string) []string {
	t.Helper()
	c, br := dial(t, addr)
	io.WriteString(c, raw)
	c.(*net.TCPConn).CloseWrite()
	var out []string
	for {
		r, err := readReply(br, "GET")
		if err != nil {
			return append(out, errClass(err))
		}
		out = append(out, fmt.Sprintf("%+v", r))
	}
}
