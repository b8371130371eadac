package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// relay is a TCP pass-through that counts the connections made through it:
// put between nginx and arbiter, it tells how many upstream connections
// nginx opened, which FastCGI, SCGI and uwsgi requests cannot tell (their
// REMOTE_PORT is the client's). Bytes pass unchanged, and a half-close is
// passed on as a half-close, so FCGI_KEEP_CONN=0's graceful close and a peer
// going away look the same on both sides.
type relay struct {
	l        net.Listener
	target   string
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startRelay listens on a free loopback port and forwards to target until
// the test ends; cleanup closes every connection and waits for its
// goroutines.
func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{l: l, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.close)
	return r
}

func (r *relay) Addr() string { return r.l.Addr().String() }

// Accepted returns how many connections the relay has accepted.
func (r *relay) Accepted() int64 { return r.accepted.Load() }

// Open returns how many connections, either side, are open now.
func (r *relay) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		r.accepted.Add(1)
		r.wg.Add(1)
		go r.pipe(c)
	}
}

func (r *relay) track(c net.Conn, on bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false // closed
	}
	if on {
		r.conns[c] = struct{}{}
	} else {
		delete(r.conns, c)
	}
	return true
}

func (r *relay) pipe(down net.Conn) {
	defer r.wg.Done()
	defer down.Close()
	if !r.track(down, true) {
		return
	}
	defer r.track(down, false)
	up, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer up.Close()
	if !r.track(up, true) {
		return
	}
	defer r.track(up, false)
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, err := io.Copy(dst, src)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			// A reset on one side resets the other.
			down.Close()
			up.Close()
			return
		}
		_ = dst.(*net.TCPConn).CloseWrite()
	}
	go cp(up, down)
	go cp(down, up)
	wg.Wait()
}

func (r *relay) close() {
	r.l.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
