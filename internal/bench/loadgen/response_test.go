package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	long := "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxLineBytes) + "\r\n\r\n"
	for _, tt := range []struct {
		name   string
		in     string
		want   []Response // responses read one after another
		err    error      // what the read after them returns
		strict bool       // err must be ErrMalformed-wrapped (errors.Is)
	}{
		{"content-length keep-alive", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			[]Response{{Status: 200}}, io.EOF, false},
		{"two in a row", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
			[]Response{{Status: 200}, {Status: 201}}, io.EOF, false},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
			[]Response{{Status: 200, Close: true}}, io.EOF, false},
		{"close among tokens", "HTTP/1.1 200 OK\r\nConnection: upgrade, Close\r\nContent-Length: 0\r\n\r\n",
			[]Response{{Status: 200, Close: true}}, io.EOF, false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
			[]Response{{Status: 200}}, io.EOF, false},
		{"chunked wins over length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			[]Response{{Status: 200}}, io.EOF, false},
		{"http/1.0 closes by default", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			[]Response{{Status: 200, Close: true}}, io.EOF, false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			[]Response{{Status: 200}}, io.EOF, false},
		{"interim responses skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			[]Response{{Status: 200}}, io.EOF, false},
		{"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			[]Response{{Status: 204}, {Status: 200}}, io.EOF, false},
		{"close-delimited body", "HTTP/1.1 200 OK\r\n\r\nuntil the end",
			[]Response{{Status: 200, Close: true}}, io.EOF, false},
		{"bare LF", "HTTP/1.1 502 Bad Gateway\nContent-Length: 1\n\nx",
			[]Response{{Status: 502}}, io.EOF, false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
			[]Response{{Status: 200}}, io.EOF, false},

		{"nothing", "", nil, io.EOF, false},
		{"cut in the status line", "HTTP/1.1 20", nil, io.ErrUnexpectedEOF, false},
		{"cut in the header", "HTTP/1.1 200 OK\r\nContent-Le", nil, io.ErrUnexpectedEOF, false},
		{"cut before the blank line", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", nil, io.ErrUnexpectedEOF, false},
		{"cut in the body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", nil, io.ErrUnexpectedEOF, false},
		{"cut after an interim response", "HTTP/1.1 100 Continue\r\n\r\n", nil, io.ErrUnexpectedEOF, false},
		{"cut in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", nil, io.ErrUnexpectedEOF, false},
		{"cut before the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n", nil, io.ErrUnexpectedEOF, false},

		{"not http", "SSH-2.0-OpenSSH\r\n", nil, ErrMalformed, true},
		{"http/2 preface", "HTTP/2 200\r\n\r\n", nil, ErrMalformed, true},
		{"status not a number", "HTTP/1.1 2x0 OK\r\n\r\n", nil, ErrMalformed, true},
		{"status below 100", "HTTP/1.1 099 Odd\r\n\r\n", nil, ErrMalformed, true},
		{"no space after status", "HTTP/1.1 200OK\r\n\r\n", nil, ErrMalformed, true},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", nil, ErrMalformed, true},
		{"header without colon", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", nil, ErrMalformed, true},
		{"space in a header name", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", nil, ErrMalformed, true},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", nil, ErrMalformed, true},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", nil, ErrMalformed, true},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", nil, ErrMalformed, true},
		{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", nil, ErrMalformed, true},
		{"line too long", long, nil, ErrMalformed, true},
		{"too many header fields", "HTTP/1.1 200 OK\r\n" + strings.Repeat("A: b\r\n", maxHeaderRows+1) + "\r\n", nil, ErrMalformed, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			for i, want := range tt.want {
				got, err := ReadResponse(br)
				if err != nil || got != want {
					t.Fatalf("response %d = %+v, %v; want %+v", i, got, err, want)
				}
			}
			_, err := ReadResponse(br)
			if !errors.Is(err, tt.err) {
				t.Fatalf("after %d responses: err = %v, want %v", len(tt.want), err, tt.err)
			}
			if !tt.strict && err != tt.err {
				t.Fatalf("err = %#v, want exactly %v", err, tt.err)
			}
		})
	}
}

// FuzzReadResponse: whatever the bytes, ReadResponse returns a status of
// 100–999 or one of its three documented errors, and never loops or panics.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int{16, 4096} {
			br := bufio.NewReaderSize(bytes.NewReader(data), size)
			for n := 0; ; n++ {
				resp, err := ReadResponse(br)
				if err != nil {
					if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrMalformed) {
						t.Fatalf("undocumented error %#v", err)
					}
					break
				}
				if resp.Status < 200 || resp.Status > 999 {
					t.Fatalf("status %d returned", resp.Status)
				}
				if n > len(data) {
					t.Fatalf("%d responses from %d bytes", n, len(data))
				}
			}
		}
	})
}
