package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLogBookWait(t *testing.T) {
	checkGoroutines(t)
	r, w := io.Pipe()
	b := newLogBook()
	done := make(chan struct{})
	go func() { b.read(r); close(done) }()
	ctx := context.Background()
	isMsg := func(m string) func(logEntry) bool { return func(e logEntry) bool { return e.msg() == m } }

	io.WriteString(w, `{"message":"a"}`+"\nnot json\n"+`{"message":"b","worker":1}`+"\n")
	e, i, err := b.wait(ctx, 0, time.Second, "b", isMsg("b"))
	if err != nil || i != 1 {
		t.Fatalf("wait b = %d, %v (non-JSON lines must not count)", i, err)
	}
	if id, _ := e.num("worker"); id != 1 || e.at.IsZero() {
		t.Errorf("entry %+v", e)
	}
	if _, _, err := b.wait(ctx, 2, 50*time.Millisecond, "b again", isMsg("b")); err == nil || !strings.Contains(err.Error(), "not json") {
		t.Errorf("wait from after b: %v (want a timeout that shows the log tail)", err)
	}

	got := make(chan error, 1)
	go func() {
		_, _, err := b.wait(ctx, b.len(), 5*time.Second, "c", isMsg("c"))
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	io.WriteString(w, `{"message":"c"}`+"\n")
	if err := <-got; err != nil {
		t.Errorf("wait for a line written later: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := b.wait(cctx, b.len(), 5*time.Second, "d", isMsg("d")); err == nil {
		t.Error("wait with a cancelled context succeeded")
	}

	w.Close()
	<-done
	if _, _, err := b.wait(ctx, b.len(), 5*time.Second, "d", isMsg("d")); err == nil || !strings.Contains(err.Error(), "log ended") {
		t.Errorf("wait after EOF: %v", err)
	}
	if n := len(b.all()); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}
}
