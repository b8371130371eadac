package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// bucket is the resolution of the throughput series.
const bucket = 100 * time.Millisecond

// Kinds of failed request, in the order the report lists them.
const (
	failConnect   = "connect"   // the connection could not be opened
	failReset     = "reset"     // ECONNRESET or EPIPE while sending or reading
	failEOF       = "eof"       // the server closed the connection before the response was complete
	failTimeout   = "timeout"   // no complete response within -timeout
	failStatus    = "non-2xx"   // a response, but not a 2xx
	failMalformed = "malformed" // bytes that are not an HTTP/1.x response
	failOther     = "other"     // any other error
)

var failKinds = []string{failConnect, failReset, failEOF, failTimeout, failStatus, failMalformed, failOther}

// failure is one failed request.
type failure struct {
	at     time.Duration // since the load started
	kind   string
	detail string
	nth    int // the request's number on its connection (1: a fresh one); 0 for connect
}

// loadGen keeps conns keep-alive connections busy, each sending one
// request (a POST with a small body, or a GET) after another over a
// minimal HTTP/1.1 client of its own: nothing is retried, so every failure
// is seen. A response with Connection: close (or a close-delimited body)
// ends the connection normally and the next request goes on a new one.
// After a failure the connection is dropped; a failed dial is followed by a
// 50 ms pause so that a refused port is not a busy loop.
type loadGen struct {
	addr    string
	req     []byte
	timeout time.Duration
	start   time.Time

	ok      []atomic.Int64 // 2xx responses completed in each bucket
	okTotal atomic.Int64
	dials   atomic.Int64
	closes  atomic.Int64 // responses that ended their connection

	mu    sync.Mutex
	fails []failure

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLoad starts the connections at once; they run until stop or until
// ctx ends. A request in flight at that moment is finished (or fails) and
// counted.
func startLoad(ctx context.Context, addr, method string, conns int, timeout, duration time.Duration) *loadGen {
	ctx, cancel := context.WithCancel(ctx)
	l := &loadGen{
		addr:    addr,
		req:     request(method),
		timeout: timeout,
		start:   time.Now(),
		ok:      make([]atomic.Int64, int(duration/bucket)+int((timeout+5*time.Second)/bucket)),
		cancel:  cancel,
	}
	for range conns {
		l.wg.Add(1)
		go l.run(ctx)
	}
	return l
}

// requestBody is the body of each POST: a proxy must not replay it (POST
// is not idempotent), so nginx does not retry it on another connection.
const requestBody = "bench-reload:POST"

// request returns the bytes of every request.
func request(method string) []byte {
	head := method + " /bench-reload HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: arbiter-bench-reload\r\nAccept: */*\r\n"
	if method == "POST" {
		return []byte(head + "Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(requestBody)) + "\r\n\r\n" + requestBody)
	}
	return []byte(head + "\r\n")
}

// since is the time since the load started.
func (l *loadGen) since() time.Duration { return time.Since(l.start) }

// stop ends the load and waits for every connection's last request.
func (l *loadGen) stop() {
	l.cancel()
	l.wg.Wait()
}

// result returns the successes, the failures in time order and the first
// n buckets of the series.
func (l *loadGen) result(n int) (ok int64, fails []failure, buckets []int64) {
	l.mu.Lock()
	fails = append([]failure(nil), l.fails...)
	l.mu.Unlock()
	buckets = make([]int64, min(n, len(l.ok)))
	for i := range buckets {
		buckets[i] = l.ok[i].Load()
	}
	return l.okTotal.Load(), fails, buckets
}

func (l *loadGen) run(ctx context.Context) {
	defer l.wg.Done()
	var (
		c   net.Conn
		br  = bufio.NewReaderSize(nil, 16<<10)
		nth int
	)
	drop := func() {
		if c != nil {
			c.Close()
			c = nil
		}
	}
	defer drop()
	dialer := net.Dialer{Timeout: l.timeout}
	for ctx.Err() == nil {
		if c == nil {
			nc, err := dialer.Dial("tcp", l.addr)
			l.dials.Add(1)
			if err != nil {
				l.fail(failure{kind: classify(err), detail: "dial: " + err.Error()}, failConnect)
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			c, nth = nc, 0
			br.Reset(c)
		}
		nth++
		_ = c.SetDeadline(time.Now().Add(l.timeout))
		if _, err := c.Write(l.req); err != nil {
			l.fail(failure{kind: classify(err), nth: nth, detail: describe("sending the request", err, nth)}, "")
			drop()
			continue
		}
		resp, err := readResponse(br)
		if err != nil {
			l.fail(failure{kind: classify(err), nth: nth, detail: describe("reading the response", err, nth)}, "")
			drop()
			continue
		}
		if resp.status < 200 || resp.status > 299 {
			l.fail(failure{kind: failStatus, nth: nth, detail: fmt.Sprintf("status %d", resp.status)}, "")
		} else {
			l.okTotal.Add(1)
			if i := int(l.since() / bucket); i < len(l.ok) {
				l.ok[i].Add(1)
			}
		}
		if resp.close {
			l.closes.Add(1)
			drop()
		}
	}
}

// fail records f; force, when not empty, overrides its kind (a dial that
// times out is a connect failure, not a timeout).
func (l *loadGen) fail(f failure, force string) {
	f.at = l.since()
	if force != "" {
		f.kind = force
	}
	l.mu.Lock()
	l.fails = append(l.fails, f)
	l.mu.Unlock()
}

// classify maps an error of a dial, a write or readResponse to a kind.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return failTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return failReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return failEOF
	case errors.Is(err, errMalformed):
		return failMalformed
	}
	return failOther
}

// describe says what happened to the nth request of a connection.
func describe(phase string, err error, nth int) string {
	on := "on a fresh connection"
	if nth > 1 {
		on = fmt.Sprintf("on a reused connection (request %d on it)", nth)
	}
	switch {
	case errors.Is(err, io.EOF):
		return "connection closed before any byte of the response, " + on
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed part-way through the response, " + on
	}
	return fmt.Sprintf("%s: %v, %s", phase, err, on)
}
