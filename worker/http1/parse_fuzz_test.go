package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseHead requires that a head the fast path takes is one net/http
// takes too, parsed the same way: method, target, URL, protocol, host,
// fields, Content-Length and whether the connection closes. And that a
// head whose complete lines linesValid refuses is one parseHead refuses.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%20b?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: h:80\r\nContent-Length: 12\r\nx-a: 1\r\nX-A:  2 \r\n\r\n",
		"HEAD /h HTTP/1.1\r\nHost: [::1]:8\r\nConnection: close, te\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\t\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		block := s
		if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
			block = s[:i+4]
		}
		h, ok := parseHead(block)
		if !linesValid([]byte(block)) && ok {
			t.Fatalf("linesValid refuses what parseHead takes: %q", block)
		}
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(block)))
		if err != nil {
			t.Fatalf("parseHead takes %q, net/http does not: %v", block, err)
		}
		if len(req.Header["Host"]) > 1 {
			t.Fatalf("two hosts taken: %q", block)
		}
		delete(req.Header, "Host")
		got := []any{h.method, h.target, h.url.String(), h.proto, 1, h.minor, h.host, h.header, h.contentLength, h.close}
		want := []any{req.Method, req.RequestURI, req.URL.String(), req.Proto, req.ProtoMajor, req.ProtoMinor, req.Host, req.Header, req.ContentLength, req.Close}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfast path %v\nnet/http  %v", block, got, want)
		}
		if len(req.TransferEncoding) > 0 || req.Header.Get("Expect") != "" || bytes.ContainsAny([]byte(h.host), " /") {
			t.Fatalf("taken, but net/http's to serve: %q", block)
		}
	})
}
