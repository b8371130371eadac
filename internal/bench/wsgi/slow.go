package main

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// slowRequest is what each slow client sends, one byte per interval: a
// complete, ordinary request (60 bytes, so a minute at a byte a second).
const slowRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-client\r\n\r\n"

// slowPool holds connections to one address that each send slowRequest a
// byte per interval and read whatever comes back a byte per interval (a
// slowloris that is also a slow reader). A connection that the server
// closes, or that cannot be opened, is opened again after at most one
// interval, so the pool keeps as many open as the server lets it.
type slowPool struct {
	open   atomic.Int64 // connections open now
	closed atomic.Int64 // connections the server ended (EOF, reset, timeout)
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startSlow starts n slow clients of addr ("host:port"). They run until
// stop, or until ctx ends.
func startSlow(ctx context.Context, addr string, n int, every time.Duration) *slowPool {
	ctx, cancel := context.WithCancel(ctx)
	p := &slowPool{cancel: cancel}
	p.wg.Add(n)
	for range n {
		go p.client(ctx, addr, every)
	}
	return p
}

// stop closes every connection and returns once all clients have ended.
func (p *slowPool) stop() {
	p.cancel()
	p.wg.Wait()
}

// waitOpen waits until n connections are open or timeout has passed, and
// returns how many are open.
func (p *slowPool) waitOpen(n int, timeout time.Duration) int {
	for deadline := time.Now().Add(timeout); p.open.Load() < int64(n) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return int(p.open.Load())
}

func (p *slowPool) client(ctx context.Context, addr string, every time.Duration) {
	defer p.wg.Done()
	var d net.Dialer
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			sleep(ctx, every)
			continue
		}
		p.open.Add(1)
		hold(ctx, c, every)
		c.Close()
		p.open.Add(-1)
		if ctx.Err() == nil {
			p.closed.Add(1)
		}
	}
}

// hold trickles slowRequest into c and reads c slowly until the server
// ends the connection or ctx ends. A reader goroutine sees the server's
// close at once, even while the request is still being written.
func hold(ctx context.Context, c net.Conn, every time.Duration) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096) // a small window: the server's writes fill it soon
	}
	go func() {
		defer cancel()
		b := make([]byte, 1)
		for {
			if _, err := c.Read(b); err != nil || !sleep(ctx, every) {
				return
			}
		}
	}()
	for i := 0; ; i++ {
		if i < len(slowRequest) {
			if _, err := c.Write([]byte{slowRequest[i]}); err != nil {
				return
			}
		}
		if !sleep(ctx, every) {
			return
		}
	}
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
