package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/freeport"
	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// fakeServer answers each connection's requests with behave(n, conn), n
// counting from 1 on the connection; behave returns false to stop serving
// the connection (having closed it or not).
type fakeServer struct {
	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	behave func(n int, c net.Conn) bool
}

func startFake(t *testing.T, behave func(n int, c net.Conn) bool) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{l: l, conns: map[net.Conn]bool{}, behave: behave}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveFake(c)
	}
}

func (s *fakeServer) serveFake(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		// Read one request: the head, then a Content-Length body.
		length := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if name, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && strings.EqualFold(name, "Content-Length") {
				length = atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.CopyN(io.Discard, br, int64(length)); err != nil {
			return
		}
		if !s.behave(n, c) {
			return
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func (s *fakeServer) close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func answer(c net.Conn, resp string) bool {
	_, err := io.WriteString(c, resp)
	return err == nil
}

const ok200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// Every way a server can fail a request is counted under its kind, and a
// Connection: close is not a failure.
func TestLoadCountsEveryFailure(t *testing.T) {
	testutil.CheckLeaks(t, "loadgen.(*Load)", "loadgen.(*fakeServer)")
	closedAddr, err := freeport.Addr() // nobody listens on it
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		behave  func(n int, c net.Conn) bool
		addr    string // instead of the fake server's
		kind    string // the only kind of failure expected; "" for none
		detail  string // in every failure's detail
		minOK   int64
		timeout time.Duration
	}{
		{name: "keep-alive", behave: func(n int, c net.Conn) bool { return answer(c, ok200) }, minOK: 10},
		{name: "connection close every 3rd", minOK: 10, behave: func(n int, c net.Conn) bool {
			if n%3 == 0 {
				answer(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
				return false
			}
			return answer(c, ok200)
		}},
		{name: "closed before the 3rd answer", kind: FailEOF, detail: "before any byte of the response, on a reused connection (request 3 on it)", minOK: 2,
			behave: func(n int, c net.Conn) bool { return n < 3 && answer(c, ok200) }},
		{name: "closed mid-response", kind: FailEOF, detail: "part-way", behave: func(n int, c net.Conn) bool {
			answer(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			return false
		}},
		{name: "reset", kind: FailReset, detail: "connection reset", behave: func(n int, c net.Conn) bool {
			_ = c.(*net.TCPConn).SetLinger(0)
			return false
		}},
		{name: "503", kind: FailStatus, detail: "status 503", behave: func(n int, c net.Conn) bool {
			return answer(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
		}},
		{name: "not http", kind: FailMalformed, detail: "malformed", behave: func(n int, c net.Conn) bool {
			answer(c, "SSH-2.0-x\r\n")
			return false
		}},
		{name: "silent", kind: FailTimeout, detail: "i/o timeout", timeout: 500 * time.Millisecond,
			behave: func(n int, c net.Conn) bool { time.Sleep(1500 * time.Millisecond); return false }},
		{name: "refused", kind: FailConnect, detail: "dial: ", addr: closedAddr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr
			if addr == "" {
				addr = startFake(t, tt.behave).l.Addr().String()
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			l := Start(context.Background(), Options{Addr: addr, Request: Request("POST", "/x", "loadgen-test"), Conns: 2, Timeout: timeout, Duration: time.Second, Latencies: true})
			time.Sleep(400 * time.Millisecond)
			l.Stop()
			ok, fails, buckets := l.Result(1 << 20) // every bucket: a stalled machine may answer past Duration
			var sum int64
			for _, b := range buckets {
				sum += b
			}
			if sum != ok {
				t.Errorf("buckets add up to %d, ok = %d", sum, ok)
			}
			if ok < tt.minOK {
				t.Errorf("ok = %d, want at least %d", ok, tt.minOK)
			}
			if tt.kind == "" && len(fails) > 0 {
				t.Fatalf("%d failures, first %+v", len(fails), fails[0])
			}
			if tt.kind != "" && len(fails) == 0 {
				t.Fatalf("no failure counted")
			}
			for _, f := range fails {
				if f.Kind != tt.kind || !strings.Contains(f.Detail, tt.detail) || (f.Kind != FailConnect) != (f.Local != "") {
					t.Fatalf("failure %+v, want kind %q with %q", f, tt.kind, tt.detail)
				}
			}
			// A sample per request sent: each success, each failure but a dial's.
			var okSamples, sent int64
			for _, s := range l.Samples() {
				sent++
				if s.OK {
					okSamples++
				}
				if s.Latency <= 0 || s.Start < 0 {
					t.Fatalf("sample %+v", s)
				}
			}
			want := ok
			for _, f := range fails {
				if f.Kind != FailConnect {
					want++
				}
			}
			if okSamples != ok || sent != want {
				t.Errorf("%d samples, %d of them ok; want %d and %d", sent, okSamples, want, ok)
			}
		})
	}
}

func TestRequestBytes(t *testing.T) {
	for _, tt := range []struct{ method, want string }{
		{"GET", "GET /bench-reload HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: arbiter-bench-reload\r\nAccept: */*\r\n\r\n"},
		{"POST", "POST /bench-reload HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: arbiter-bench-reload\r\nAccept: */*\r\n" +
			"Content-Type: text/plain\r\nContent-Length: 12\r\n\r\nloadgen:POST"},
	} {
		if got := string(Request(tt.method, "/bench-reload", "arbiter-bench-reload")); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.method, got, tt.want)
		}
	}
}
