package oneshot

import (
	"net"
	"testing"
	"time"
)

// A watch stopped before its ticks never runs; one left alone runs, and
// Stop ends it and waits for it; the ticker goroutine ends once none is
// left.
func TestWatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var early Watch
	early.Start(c, func() { t.Error("a watch stopped before its tick ran") })
	if early.Stop(c) {
		t.Fatal("Stop says a watch ran that was stopped at once")
	}

	var w Watch
	running := make(chan struct{})
	returned := false
	w.Start(c, func() {
		close(running)
		var b [1]byte
		c.Read(b[:]) // until Stop's deadline
		returned = true
	})
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not start")
	}
	if ran := w.Stop(c); !ran || !returned {
		t.Fatalf("Stop after the start: ran %v, run returned %v", ran, returned)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		watches.mu.Lock()
		ticking := watches.ticking
		watches.mu.Unlock()
		if !ticking {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ticker goes on with no watch left")
		}
		time.Sleep(time.Millisecond)
	}
}
