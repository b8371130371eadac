package fastcgi

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"testing"
)

// nginxParams is what nginx's fastcgi_params sends for a small GET with a
// few browser headers.
func nginxParams() []byte {
	return pairs(
		"QUERY_STRING", "a=1", "REQUEST_METHOD", "GET", "CONTENT_TYPE", "", "CONTENT_LENGTH", "",
		"SCRIPT_NAME", "/bench", "REQUEST_URI", "/bench?a=1", "DOCUMENT_URI", "/bench", "DOCUMENT_ROOT", "/srv/www",
		"SERVER_PROTOCOL", "HTTP/1.1", "REQUEST_SCHEME", "http", "GATEWAY_INTERFACE", "CGI/1.1",
		"SERVER_SOFTWARE", "nginx/1.22.1", "REMOTE_ADDR", "127.0.0.1", "REMOTE_PORT", "53422",
		"SERVER_ADDR", "127.0.0.1", "SERVER_PORT", "8080", "SERVER_NAME", "localhost", "REDIRECT_STATUS", "200",
		"HTTP_HOST", "localhost:8080", "HTTP_USER_AGENT", "wrk/4.1.0", "HTTP_ACCEPT", "*/*",
		"HTTP_ACCEPT_ENCODING", "gzip, deflate", "HTTP_CONNECTION", "keep-alive")
}

var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello, World!\n")
})

// BenchmarkServeKeepConnGET: a small GET with KEEP_CONN on, one request at
// a time per connection (as nginx with fastcgi_keep_conn sends them), one
// connection per parallel goroutine, against this package and
// net/http/fcgi with the same handler and the same client.
func BenchmarkServeKeepConnGET(b *testing.B) {
	req := wholeRequest(1, true, nginxParams(), nil)
	b.Run("arbiter", func(b *testing.B) {
		l := benchListen(b)
		s := &Server{Handler: benchHandler}
		go s.Serve(l)
		defer s.Close()
		benchClient(b, l.Addr().String(), req)
	})
	b.Run("net_http_fcgi", func(b *testing.B) {
		l := benchListen(b)
		go fcgi.Serve(l, benchHandler)
		defer l.Close()
		benchClient(b, l.Addr().String(), req)
	})
}

func benchListen(b *testing.B) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchClient sends req over and over on one connection per goroutine and
// reads each response up to END_REQUEST, checking it got some STDOUT.
func benchClient(b *testing.B, addr string, req []byte) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		br := bufio.NewReaderSize(nc, 16<<10)
		var hdr [headerLen]byte
		for pb.Next() {
			if _, err := nc.Write(req); err != nil {
				b.Error(err)
				return
			}
			stdout := 0
			for {
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					b.Error(err)
					return
				}
				n := int(binary.BigEndian.Uint16(hdr[4:6])) + int(hdr[6])
				if _, err := br.Discard(n); err != nil {
					b.Error(err)
					return
				}
				if recType(hdr[1]) == typeStdout {
					stdout += int(binary.BigEndian.Uint16(hdr[4:6]))
				}
				if recType(hdr[1]) == typeEndRequest {
					break
				}
			}
			if stdout == 0 {
				b.Error(fmt.Errorf("no STDOUT"))
				return
			}
		}
	})
}
