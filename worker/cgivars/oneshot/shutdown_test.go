package oneshot

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

func TestMaxConns(t *testing.T) {
	var mu sync.Mutex
	var order []string
	release := make(chan struct{})
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		order = append(order, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/first" {
			<-release
		}
	}), func(s *Server) { s.MaxConns = 1 })
	first := h.Dial()
	io.WriteString(first, head("REQUEST_METHOD", "GET", "REQUEST_URI", "/first"))
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	second := h.Dial() // the kernel accepts it; the server does not yet
	io.WriteString(second, head("REQUEST_METHOD", "GET", "REQUEST_URI", "/second"))
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if len(order) != 1 {
		t.Errorf("second request served while the first holds the only slot: %v", order)
	}
	mu.Unlock()
	close(release)
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(second); err != nil || !strings.HasPrefix(string(b), "Status: 200 OK") {
		t.Errorf("second: %q, %v", b, err)
	}
}

func TestShutdownLetsRequestFinish(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("finished"))
	}))
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "GET"))
	<-started
	shut := make(chan error, 1)
	go func() { shut <- h.srv.Shutdown(context.Background()) }()
	if err := <-h.ServeErr; err != http.ErrServerClosed {
		t.Errorf("Serve returned %v", err)
	}
	h.ServeErr <- http.ErrServerClosed // for the cleanup
	if nc, err := net.Dial("tcp", h.Addr); err == nil {
		nc.Close()
		t.Error("a new connection was accepted during Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || !strings.HasSuffix(string(b), "finished") {
		t.Errorf("response %q, %v", b, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := h.srv.Serve(mustListen(t)); err != http.ErrServerClosed {
		t.Errorf("Serve after Shutdown: %v", err)
	}
}

func TestShutdownDeadlineClosesTheRest(t *testing.T) {
	cause := make(chan error, 1)
	started := make(chan struct{})
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		cause <- context.Cause(r.Context())
	}))
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "GET"))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-cause; err == nil {
		t.Error("no cause")
	}
	if strings.Contains(h.Logs.String(), "closed network connection") {
		t.Errorf("our own close logged as bad input: %s", h.Logs.String())
	}
}

func TestShutdownClosesSilentConns(t *testing.T) {
	old := newConnGrace
	newConnGrace = 50 * time.Millisecond
	defer func() { newConnGrace = old }()
	h := start(t, echo)
	c := h.Dial()
	// Wait until the server holds the connection: one still in the kernel's
	// SYN queue when the listener closes is dropped without a reset, and a
	// peer that sends nothing would never learn of it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		h.srv.mu.Lock()
		n := len(h.srv.conns)
		h.srv.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Errorf("silent connection got %q, %v", b, err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	started := make(chan struct{})
	h := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	c := h.Dial()
	io.WriteString(c, head("REQUEST_METHOD", "GET"))
	<-started
	h.srv.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(c) // returns once the server closed it
}

// A connection that Accept returns after Shutdown closed the listener (the
// accept raced the close; nginx opens one connection per SCGI or uwsgi
// request) is served, and Shutdown waits for it. Closing it unread would
// reset the request nginx just sent.
func TestShutdownServesAConnectionAcceptedDuringTheClose(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv := &Server{Protocol: lineProto, MaxHeadBytes: 4096, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("finished"))
	})}
	l, c := testutil.NewLateListener(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	<-l.Accepting()
	io.WriteString(c, head("REQUEST_METHOD", "GET"))
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the late connection's request was never served")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with the late request in flight", err)
	default:
	}
	close(release)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || !strings.HasSuffix(string(b), "finished") {
		t.Errorf("late connection: %q, %v", b, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	testutil.WaitNoLeaks(t, "oneshot.(*")
}

// After Close, a connection accepted in the same instant is closed too.
func TestCloseClosesAConnectionAcceptedDuringTheClose(t *testing.T) {
	srv := &Server{Protocol: lineProto, MaxHeadBytes: 4096, Handler: echo}
	l, c := testutil.NewLateListener(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	<-l.Accepting()
	srv.Close()
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(c); len(b) != 0 {
		t.Errorf("after Close the late connection got %q", b)
	}
}
