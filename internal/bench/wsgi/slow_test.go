package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// The slow clients send the whole request, open a connection again when
// the server closes one, and close them all on stop.
func TestSlowPool(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	accept := func() net.Conn {
		t.Helper()
		select {
		case c := <-conns:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection from the slow clients")
			return nil
		}
	}

	p := startSlow(context.Background(), ln.Addr().String(), 3, time.Millisecond)
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()
	first, second, third := accept(), accept(), accept()
	if n := p.waitOpen(3, 10*time.Second); n != 3 {
		t.Fatalf("%d open, want 3", n)
	}
	got := make([]byte, len(slowRequest))
	if _, err := io.ReadFull(first, got); err != nil || string(got) != slowRequest {
		t.Fatalf("the server read %q, %v; want %q", got, err, slowRequest)
	}

	first.Close()
	fourth := accept()
	for deadline := time.Now().Add(10 * time.Second); p.closed.Load() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("closed = %d after the server closed one connection, want 1", p.closed.Load())
		}
	}

	p.stop()
	stopped = true
	for _, c := range []net.Conn{second, third, fourth} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("a connection not closed by stop: %v", err)
		}
		c.Close()
	}
	if n := p.open.Load(); n != 0 {
		t.Errorf("%d open after stop", n)
	}
}
