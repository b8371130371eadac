package fastcgi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
)

// FuzzParams: any input either fails or decodes into pairs that re-encode
// and decode to the same pairs; nothing panics, and no declared length
// reserves memory.
func FuzzParams(f *testing.F) {
	f.Add(string(pairs("REQUEST_METHOD", "GET", "CONTENT_LENGTH", "")))
	f.Add(string(pairs(strings.Repeat("n", 200), strings.Repeat("v", 300))))
	f.Add("\x80\x00\x00\x01\x00a")
	f.Add("\xff\xff\xff\xff\x01a")
	f.Add("\x01\x01a\x00")
	f.Fuzz(func(t *testing.T, s string) {
		var got []string
		err := parseParams(s, func(n, v string) { got = append(got, n, v) })
		if err != nil {
			return
		}
		total := 0
		for i := 0; i < len(got); i += 2 {
			if got[i] == "" || strings.IndexByte(got[i], 0) >= 0 {
				t.Fatalf("accepted name %q", got[i])
			}
			total += len(got[i]) + len(got[i+1])
		}
		if total > len(s) {
			t.Fatalf("pairs hold %d bytes, input has %d", total, len(s))
		}
		var again []string
		if err := parseParams(string(pairs(got...)), func(n, v string) { again = append(again, n, v) }); err != nil {
			t.Fatalf("re-encoded pairs do not parse: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("round trip: %q != %q", again, got)
		}
	})
}

// FuzzRecords feeds arbitrary bytes to a connection as what a web server
// sent, then EOF. The connection must end (no hang), its handlers return,
// nothing panics, and what the server wrote must be well framed: version 1,
// padded, only STDOUT, END_REQUEST and the two management answers, never
// more END_REQUESTs for an id than BEGIN_REQUESTs sent for it, never a
// STDOUT for an id that never began, no more management answers than
// management records.
func FuzzRecords(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, log := serveBytes(t, in)
		if l := log.Lines("internal error"); len(l) > 0 {
			t.Fatalf("internal error: %s", l[0])
		}
		begins, mgmt := inputCounts(in)
		ends := map[uint16]int{}
		answers := 0
		br := bufio.NewReader(bytes.NewReader(out))
		for {
			r, err := readRecord(br)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("bad output record: %v", err)
			}
			switch r.typ {
			case typeEndRequest:
				ends[r.id]++
				if ends[r.id] > begins[r.id] {
					t.Fatalf("%d END_REQUESTs for request %d, %d BEGIN_REQUESTs", ends[r.id], r.id, begins[r.id])
				}
			case typeStdout:
				if begins[r.id] == 0 {
					t.Fatalf("STDOUT for request %d, which never began", r.id)
				}
			default:
				answers++
				if answers > mgmt {
					t.Fatalf("%d management answers to %d management records", answers, mgmt)
				}
			}
		}
	})
}

// inputCounts scans in the way the server frames it, as far as it goes.
func inputCounts(in []byte) (begins map[uint16]int, mgmt int) {
	begins = map[uint16]int{}
	for len(in) >= headerLen && in[0] == version1 {
		id := binary.BigEndian.Uint16(in[2:4])
		if id == 0 {
			mgmt++
		} else if recType(in[1]) == typeBeginRequest {
			begins[id]++
		}
		n := headerLen + int(binary.BigEndian.Uint16(in[4:6])) + int(in[6])
		in = in[min(n, len(in)):]
	}
	return begins, mgmt
}

// serveBytes serves one connection whose input is in and returns what the
// server wrote, after the connection and its handlers are done.
func serveBytes(t *testing.T, in []byte) ([]byte, *testutil.Buffer) {
	log := &testutil.Buffer{}
	s := &Server{
		MaxRequests: 3, MaxParamsBytes: 2048, BodyBuffer: 64, stallLimit: time.Millisecond,
		Log: peerlog.New(zerolog.New(log), "fastcgi"),
		Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			switch r.URL.Path {
			case "/panic":
				panic("fuzz")
			case "/flush":
				io.WriteString(w, "x")
				w.(http.Flusher).Flush()
			case "/big":
				w.Write(make([]byte, 70_000))
			}
			fmt.Fprintf(w, "%d %v", n, err)
		}),
	}
	s.mu.Lock()
	s.initLocked()
	s.mu.Unlock()
	fc := &fakeConn{in: in}
	c := newConn(s, s.cfg, fc)
	if _, ok := s.track(c); !ok {
		t.Fatal("server stopped")
	}
	done := make(chan struct{})
	go func() { c.serve(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("connection did not end; input %q", in)
	}
	return fc.output(), log
}

// fakeConn is a connection whose peer sent in, then EOF, and reads
// everything written. It has no deadlines and no CloseWrite.
type fakeConn struct {
	mu     sync.Mutex
	in     []byte
	out    bytes.Buffer
	closed bool
}

func (c *fakeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *fakeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *fakeConn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *fakeConn) LocalAddr() net.Addr                { return &net.UnixAddr{Name: "local", Net: "unix"} }
func (c *fakeConn) RemoteAddr() net.Addr               { return &net.UnixAddr{Name: "peer", Net: "unix"} }
func (c *fakeConn) SetDeadline(t time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(t time.Time) error { return nil }

// fuzzSeeds are the inputs the seed corpus in testdata/fuzz/FuzzRecords was
// written from; f.Add gives them to plain `go test` runs too.
func fuzzSeeds() [][]byte {
	post := func(path string) []byte {
		return pairs("REQUEST_METHOD", "POST", "REQUEST_URI", path, "CONTENT_LENGTH", "")
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return [][]byte{
		wholeRequest(1, true, getEnv("/"), nil),
		cat(wholeRequest(1, true, post("/flush"), []byte("body")), wholeRequest(2, false, getEnv("/big"), nil)),
		cat(beginRec(1, 1, 1), beginRec(2, 1, 1), rec(typeParams, 2, post("/a")), rec(typeParams, 1, post("/panic")),
			rec(typeParams, 1, nil), rec(typeParams, 2, nil), rec(typeStdin, 2, make([]byte, 300)),
			rec(typeStdin, 1, []byte("x")), rec(typeAbortRequest, 2, nil), rec(typeStdin, 1, nil)),
		cat(rec(typeGetValues, 0, pairs("FCGI_MAX_REQS", "", "FCGI_MPXS_CONNS", "")), rec(0x20, 0, nil), beginRec(0, 1, 0)),
		cat(beginRec(1, 2, 1), beginRec(2, 1, 0), stream(typeParams, 2, pairs("REQUEST_METHOD", "PUT", "CONTENT_LENGTH", "3"), 1),
			record(typeStdin, 2, []byte("abcdef"), 255), rec(typeStdin, 2, nil)),
		cat(beginRec(1, 1, 1), stream(typeParams, 1, []byte{0x80, 0, 0, 5, 1, 'a'}, 3)),
		cat(beginRec(1, 1, 1), stream(typeParams, 1, pairs("HTTP_X", strings.Repeat("v", 3000)), 1000), wholeRequest(2, true, getEnv("/"), nil)),
		cat(beginRec(4, 1, 1), beginRec(5, 1, 1), beginRec(6, 1, 1), beginRec(7, 1, 1), rec(typeAbortRequest, 5, nil)),
		cat(beginRec(9, 1, 0), stream(typeParams, 9, pairs("REQUEST_METHOD", "GET", "HTTP_X_LONG", strings.Repeat("l", 300)), 5),
			rec(typeStdin, 9, nil), rec(typeStdin, 9, []byte("after the end"))),
		append([]byte{2}, beginRec(1, 1, 0)[1:]...),
	}
}
