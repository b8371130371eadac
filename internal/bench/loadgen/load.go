// Package loadgen is a keep-alive HTTP/1.1 load generator with a minimal
// client of its own, so that nothing is retried behind the caller's back:
// every failed request (a refused dial, a reset, an early EOF, a timeout, a
// non-2xx answer, bytes that are not HTTP) is counted, with when it
// happened and on which connection. The reload benchmark and the chaos
// scenarios share it.
package loadgen

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

// Bucket is the resolution of the throughput series.
const Bucket = 100 * time.Millisecond

// Kinds of failed request, in the order reports list them.
const (
	FailConnect   = "connect"   // the connection could not be opened
	FailReset     = "reset"     // ECONNRESET or EPIPE while sending or reading
	FailEOF       = "eof"       // the server closed the connection before the response was complete
	FailTimeout   = "timeout"   // no complete response within the timeout
	FailStatus    = "non-2xx"   // a response, but not a 2xx
	FailMalformed = "malformed" // bytes that are not an HTTP/1.x response
	FailOther     = "other"     // any other error
)

// FailKinds are the kinds, in report order.
var FailKinds = []string{FailConnect, FailReset, FailEOF, FailTimeout, FailStatus, FailMalformed, FailOther}

// Failure is one failed request.
type Failure struct {
	At     time.Duration // when it failed, since the load started
	Kind   string
	Detail string
	Nth    int    // the request's number on its connection (1: a fresh one); 0 for connect
	Local  string // the connection's local address ("127.0.0.1:40312"); "" for connect
}

// Sample is one request's timing, kept when Options.Latencies is set.
type Sample struct {
	Start   time.Duration // when it was sent, since the load started
	Latency time.Duration // until its response was read, or it failed
	OK      bool
}

// Options describe a load.
type Options struct {
	Addr    string // host:port
	Request []byte // the bytes of every request (see Request)
	Conns   int    // keep-alive connections, all started at once
	Timeout time.Duration
	// Duration sizes the throughput series (plus Timeout and 5 s of
	// slack); the load runs until Stop, or until the context ends.
	Duration time.Duration
	// Latencies keeps a Sample of every request.
	Latencies bool
}

// Load keeps Conns keep-alive connections busy, each sending one request
// after another. A response with Connection: close (or a close-delimited
// body) ends the connection normally and the next request goes on a new
// one. After a failure the connection is dropped; a failed dial is followed
// by a 50 ms pause so that a refused port is not a busy loop.
type Load struct {
	o     Options
	start time.Time

	ok      []atomic.Int64 // 2xx responses completed in each bucket
	okTotal atomic.Int64
	dials   atomic.Int64
	closes  atomic.Int64 // responses that ended their connection

	mu      sync.Mutex
	fails   []Failure
	samples [][]Sample // one slice per connection goroutine, merged by Samples

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts the connections at once; they run until Stop or until ctx
// ends. A request in flight at that moment is finished (or fails) and
// counted.
func Start(ctx context.Context, o Options) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{
		o:      o,
		start:  time.Now(),
		ok:     make([]atomic.Int64, int(o.Duration/Bucket)+int((o.Timeout+5*time.Second)/Bucket)),
		cancel: cancel,
	}
	if o.Latencies {
		l.samples = make([][]Sample, o.Conns)
	}
	for i := range o.Conns {
		l.wg.Add(1)
		go l.run(ctx, i)
	}
	return l
}

// RequestBody is the body of a POST from Request.
const RequestBody = "loadgen:POST"

// Request returns the bytes of a request for path: a GET, or a POST with
// RequestBody (a proxy must not replay a POST, so nginx does not retry it
// on another connection). agent is the User-Agent.
func Request(method, path, agent string) []byte {
	head := method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + agent + "\r\nAccept: */*\r\n"
	if method == "POST" {
		body := RequestBody
		return []byte(head + "Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	return []byte(head + "\r\n")
}

// Began is when the load started.
func (l *Load) Began() time.Time { return l.start }

// Since is the time since the load started.
func (l *Load) Since() time.Duration { return time.Since(l.start) }

// Stop ends the load and waits for every connection's last request.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// OK is the number of 2xx responses so far.
func (l *Load) OK() int64 { return l.okTotal.Load() }

// Dials is the number of connections opened (or tried).
func (l *Load) Dials() int64 { return l.dials.Load() }

// Closes is the number of responses that ended their connection.
func (l *Load) Closes() int64 { return l.closes.Load() }

// Result returns the successes, the failures in time order and the first
// n buckets of the series.
func (l *Load) Result(n int) (ok int64, fails []Failure, buckets []int64) {
	l.mu.Lock()
	fails = append([]Failure(nil), l.fails...)
	l.mu.Unlock()
	buckets = make([]int64, min(n, len(l.ok)))
	for i := range buckets {
		buckets[i] = l.ok[i].Load()
	}
	return l.okTotal.Load(), fails, buckets
}

// Samples returns every request's Sample (Options.Latencies), in no
// particular order. Call it after Stop.
func (l *Load) Samples() []Sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Sample
	for _, s := range l.samples {
		out = append(out, s...)
	}
	return out
}

func (l *Load) run(ctx context.Context, id int) {
	defer l.wg.Done()
	var (
		c       net.Conn
		br      = bufio.NewReaderSize(nil, 16<<10)
		nth     int
		samples []Sample
	)
	drop := func() {
		if c != nil {
			c.Close()
			c = nil
		}
	}
	defer drop()
	if l.o.Latencies {
		defer func() {
			l.mu.Lock()
			l.samples[id] = samples
			l.mu.Unlock()
		}()
	}
	dialer := net.Dialer{Timeout: l.o.Timeout}
	for ctx.Err() == nil {
		if c == nil {
			nc, err := dialer.Dial("tcp", l.o.Addr)
			l.dials.Add(1)
			if err != nil {
				l.fail(Failure{Kind: classify(err), Detail: "dial: " + err.Error()}, FailConnect)
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
		sent := time.Now()
		ok := false
		record := func() {
			if l.o.Latencies {
				samples = append(samples, Sample{Start: sent.Sub(l.start), Latency: time.Since(sent), OK: ok})
			}
		}
		local := c.LocalAddr().String()
		_ = c.SetDeadline(sent.Add(l.o.Timeout))
		if _, err := c.Write(l.o.Request); err != nil {
			l.fail(Failure{Kind: classify(err), Nth: nth, Local: local, Detail: describe("sending the request", err, nth)}, "")
			record()
			drop()
			continue
		}
		resp, err := ReadResponse(br)
		if err != nil {
			l.fail(Failure{Kind: classify(err), Nth: nth, Local: local, Detail: describe("reading the response", err, nth)}, "")
			record()
			drop()
			continue
		}
		if resp.Status < 200 || resp.Status > 299 {
			l.fail(Failure{Kind: FailStatus, Nth: nth, Local: local, Detail: fmt.Sprintf("status %d", resp.Status)}, "")
		} else {
			ok = true
			l.okTotal.Add(1)
			if i := int(l.Since() / Bucket); i < len(l.ok) {
				l.ok[i].Add(1)
			}
		}
		record()
		if resp.Close {
			l.closes.Add(1)
			drop()
		}
	}
}

// fail records f; force, when not empty, overrides its kind (a dial that
// times out is a connect failure, not a timeout).
func (l *Load) fail(f Failure, force string) {
	f.At = l.Since()
	if force != "" {
		f.Kind = force
	}
	l.mu.Lock()
	l.fails = append(l.fails, f)
	l.mu.Unlock()
}

// classify maps an error of a dial, a write or ReadResponse to a kind.
func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return FailTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return FailReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return FailEOF
	case errors.Is(err, ErrMalformed):
		return FailMalformed
	}
	return FailOther
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
