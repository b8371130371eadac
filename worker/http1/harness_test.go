package http1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// pair is the fast path with net/http behind it for the connections it
// hands off, wired as the worker wires them.
type pair struct {
	fast *Server
	std  *http.Server
	hl   *HandoffListener
	once sync.Once

	mu sync.Mutex
	ln net.Listener
}

func newPair(h http.Handler, logs io.Writer, configure ...func(*Server)) *pair {
	p := &pair{hl: NewHandoffListener()}
	p.std = &http.Server{Handler: h, ErrorLog: log.New(logs, "", 0)}
	p.fast = &Server{Handler: h, Handoff: p.handoff, ErrorLog: p.std.ErrorLog}
	for _, f := range configure {
		f(p.fast)
	}
	p.std.ReadHeaderTimeout = p.fast.ReadHeaderTimeout
	p.std.ReadTimeout = p.fast.ReadTimeout
	p.std.WriteTimeout = p.fast.WriteTimeout
	p.std.IdleTimeout = p.fast.IdleTimeout
	return p
}

func (p *pair) handoff(c net.Conn) {
	p.once.Do(func() { go p.std.Serve(p.hl) })
	if !p.hl.Give(c) {
		c.Close()
	}
}

func (p *pair) Serve(l net.Listener) error {
	p.mu.Lock()
	p.ln = l
	p.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return http.ErrServerClosed
			}
			return err
		}
		go p.fast.ServeConn(c)
	}
}

func (p *pair) Close() error {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
	}
	p.mu.Unlock()
	p.fast.Close()
	p.hl.Close()
	return p.std.Close()
}

// std serves net/http alone, the reference.
type std struct{ *http.Server }

func (s std) Serve(l net.Listener) error { return s.Server.Serve(l) }

// startPair serves h on the fast path, failing the test on goroutines of
// this package left over at its end.
func startPair(t testing.TB, h http.Handler, configure ...func(*Server)) (*testutil.Harness, *pair) {
	t.Helper()
	logs := &testutil.Buffer{}
	p := newPair(h, logs, configure...)
	return testutil.Serve(t, p, logs, "http1.(*"), p
}

// reply is a response as the client saw it.
type reply struct {
	status  string
	proto   string
	header  http.Header // without Date
	date    bool
	te      []string
	clen    int64
	close   bool
	body    string
	trailer http.Header
}

// readReply reads one response to a request with method from br.
func readReply(br *bufio.Reader, method string) (reply, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return reply{}, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("body: %w", err)
	}
	_, date := resp.Header["Date"]
	resp.Header.Del("Date")
	return reply{status: resp.Status, proto: resp.Proto, header: resp.Header, date: date, te: resp.TransferEncoding,
		clen: resp.ContentLength, close: resp.Close, body: string(body), trailer: resp.Trailer}, nil
}

var discardLog = log.New(io.Discard, "", 0)
