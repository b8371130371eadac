package http1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// BenchmarkKeepAlive is one kept-alive connection, one request at a time,
// served by net/http and by the fast path with the same handler; the
// client's own work (a write, and reading the response without
// allocating) is in both. Compare the two in one run:
//
//	go test -run '^$' -bench KeepAlive -count 5 ./worker/http1/
func BenchmarkKeepAlive(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "Hello, World!\n")
	})
	for _, tc := range []struct {
		name string
		srv  func() testutil.Server
	}{
		{"net-http", func() testutil.Server { return std{&http.Server{Handler: h, ErrorLog: discardLog}} }},
		{"http1", func() testutil.Server { return newPair(h, io.Discard) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hs := testutil.Serve(b, tc.srv(), nil)
			c, err := net.Dial("tcp", hs.Addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := skipResponse(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// skipResponse reads a response with a Content-Length and drops it.
func skipResponse(br *bufio.Reader) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}
