package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// Shutdown drains: the listener closes at once, requests keep being served
// on open connections (a front end's pool may send one at any moment), a
// connection closes once it has been idle for drainIdle, and Shutdown
// returns when none is left.
func TestShutdownWithRequestsInFlight(t *testing.T) {
	g := newGate()
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/held" {
			g.wait("/held")
		}
		io.WriteString(w, "done "+r.URL.Path)
	})})
	idle := dial(t, ts.addr)
	idle.send(wholeRequest(1, true, getEnv("/first"), nil))
	idle.response(1)

	busy := dial(t, ts.addr)
	busy.send(wholeRequest(1, true, getEnv("/held"), nil))
	g.waitEntered(t, "/held")

	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- ts.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("listener still accepts")
	}
	// The idle connection still serves a request sent during the drain.
	idle.send(wholeRequest(2, true, getEnv("/late"), nil))
	if got := idle.response(2).body(); got != "done /late" {
		t.Fatalf("request on an idle kept connection during the drain: %q", got)
	}
	busy.send(wholeRequest(2, true, getEnv("/new"), nil))
	if got := busy.response(2).body(); got != "done /new" {
		t.Fatalf("new request on a busy connection during the drain: %q", got)
	}
	// Quiet for drainIdle: the idle connection closes.
	idle.expectEOF()
	if waited := time.Since(start); waited < drainIdle {
		t.Fatalf("idle connection closed after %v, before drainIdle", waited)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	g.open("/held")
	if got := busy.response(1).body(); got != "done /held" {
		t.Fatalf("got %q", got)
	}
	busy.expectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A peer that never lets a connection go quiet is closed at a request
// boundary three quarters of the way to the drain's deadline, not cut off at
// the deadline.
func TestShutdownBusyConnectionClosesAtBoundary(t *testing.T) {
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})})
	c := dial(t, ts.addr)
	// One request first, so that the connection is accepted before the
	// listener closes.
	c.send(wholeRequest(1000, true, getEnv("/busy"), nil))
	if got := c.response(1000).body(); got != "ok" {
		t.Fatalf("first request: %q", got)
	}
	// Three quarters of the way (3 s) the connection closes at a boundary,
	// then lingers for at most lingerTimeout: well before the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(ctx) }()
	served := 0
	for id := uint16(1); ; id++ {
		c.send(wholeRequest(id, true, getEnv("/busy"), nil))
		resp, ok := c.tryResponse(id)
		if !ok {
			break
		}
		if resp.body() != "ok" {
			t.Fatalf("request %d: %q", id, resp.body())
		}
		served++
		time.Sleep(20 * time.Millisecond) // busy: never idle for drainIdle
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v (the connection should close before the deadline)", err)
	}
	if served < 10 {
		t.Fatalf("only %d requests served before the close", served)
	}
}

// Shutdown whose context ends closes what is left and cancels the
// handlers' contexts.
func TestShutdownContextExpires(t *testing.T) {
	ctxErr := make(chan error, 1)
	entered := make(chan struct{})
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		ctxErr <- r.Context().Err()
	})})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, true, getEnv("/"), nil))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-ctxErr; err != context.Canceled {
		t.Fatalf("handler context: %v", err)
	}
	if _, err := c.nextErr(); err == nil {
		t.Fatal("connection still open")
	}
}

// Close cancels everything at once; Serve returns ErrServerClosed, and so
// does a later Serve.
func TestClose(t *testing.T) {
	entered := make(chan struct{})
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, true, getEnv("/"), nil))
	<-entered
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nextErr(); err == nil {
		t.Fatal("connection still open")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Serve(l); err != http.ErrServerClosed {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// MaxConns: a connection beyond the limit waits in the backlog until one
// closes.
func TestMaxConns(t *testing.T) {
	ts := start(t, &Server{MaxConns: 1, Handler: echoHandler})
	first := dial(t, ts.addr)
	first.send(wholeRequest(1, true, getEnv("/1"), nil))
	first.response(1)
	second := dial(t, ts.addr)
	second.send(wholeRequest(1, true, getEnv("/2"), nil))
	_ = second.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := readRecord(second.br); err == nil {
		t.Fatal("second connection served while the first is open")
	}
	first.nc.Close()
	if got := second.response(1).body(); got != `GET /2 cl=-1 body="" err=<nil>` {
		t.Fatalf("got %q", got)
	}
}

// Timeouts: idle kept connections and silent new ones close; params that
// do not arrive in time close the connection and are logged; a body that
// does not arrive in time fails, and the handler still answers.
func TestTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		ts := start(t, &Server{IdleTimeout: 50 * time.Millisecond, Handler: echoHandler})
		c := dial(t, ts.addr)
		c.send(wholeRequest(1, true, getEnv("/"), nil))
		c.response(1)
		c.expectEOF()
		dial(t, ts.addr).expectEOF()
	})
	t.Run("params", func(t *testing.T) {
		ts := start(t, &Server{ReadHeaderTimeout: 50 * time.Millisecond, Handler: echoHandler})
		c := dial(t, ts.addr)
		c.send(beginRec(1, roleResponder, flagKeepConn), rec(typeParams, 1, getEnv("/")))
		if _, err := c.nextErr(); err == nil {
			t.Fatal("connection still open")
		}
		ts.Shutdown(context.Background())
		if l := ts.log.Lines("params not received"); len(l) != 1 {
			t.Fatalf("log: %s", ts.log)
		}
	})
	t.Run("body", func(t *testing.T) {
		ts := start(t, &Server{ReadTimeout: 300 * time.Millisecond, Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if errors.Is(err, ErrBodyTimeout) {
				w.WriteHeader(http.StatusRequestTimeout)
			}
			w.Write(b)
		})})
		c := dial(t, ts.addr)
		c.send(beginRec(1, roleResponder, flagKeepConn), stream(typeParams, 1, postEnv("/"), 100), rec(typeStdin, 1, []byte("part")))
		resp := c.response(1)
		// "part" arrives long before the timeout, unless the machine is
		// so loaded that the timer fired first: then it was discarded.
		if resp.status() != http.StatusRequestTimeout || (resp.body() != "part" && resp.body() != "") {
			t.Fatalf("got %q", resp.stdout)
		}
		// The rest of that body is discarded; the connection carries on.
		c.send(rec(typeStdin, 1, []byte("late")), rec(typeStdin, 1, nil), wholeRequest(1, false, getEnv("/next"), nil))
		if got := c.response(1); got.status() != 200 {
			t.Fatalf("next: %q", got.stdout)
		}
	})
}

// WriteTimeout: a web server that stops reading does not hold the server:
// the handler's write fails and the connection closes.
func TestWriteTimeout(t *testing.T) {
	writeErr := make(chan error, 1)
	ts := start(t, &Server{WriteTimeout: 100 * time.Millisecond, Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("w"), 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	})})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, true, getEnv("/"), nil))
	select {
	case err := <-writeErr:
		if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("write error: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("handler still writing")
	}
}

// A peer that half-closes after sending its request has the request's
// context cancelled (it looks gone), but still gets the response of a
// handler that answers anyway.
func TestHalfClosedPeer(t *testing.T) {
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		io.WriteString(w, "still here")
	})})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, true, getEnv("/"), nil))
	c.nc.(*net.TCPConn).CloseWrite()
	if got := c.response(1).body(); got != "still here" {
		t.Fatalf("got %q", got)
	}
	c.expectEOF()
}

// §6.35: BEGIN_REQUESTs that never complete cannot pile up: beyond
// MaxRequests they are refused, and ReadHeaderTimeout closes the
// connection holding the rest.
func TestIncompleteBeginsBounded(t *testing.T) {
	ts := start(t, &Server{MaxRequests: 4, ReadHeaderTimeout: 200 * time.Millisecond, Handler: echoHandler})
	c := dial(t, ts.addr)
	var b []byte
	for id := 1; id <= 100; id++ {
		b = append(b, beginRec(uint16(id), roleResponder, flagKeepConn)...)
	}
	c.send(b)
	refused := 0
	for {
		r, err := c.nextErr()
		if err != nil {
			break
		}
		if r.typ != typeEndRequest || r.end().protocolStatus != statusOverloaded || r.id <= 4 {
			t.Fatalf("got %v for %d: %x", r.typ, r.id, r.content)
		}
		refused++
	}
	if refused != 96 {
		t.Fatalf("%d refused, want 96", refused)
	}
}

// A Unix socket works the same, KEEP_CONN=0 closing cleanly.
func TestUnixSocket(t *testing.T) {
	path := t.TempDir() + "/fcgi.sock"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: echoHandler}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.send(wholeRequest(1, false, getEnv("/unix"), nil))
	if got := c.response(1).body(); got != `GET /unix cl=-1 body="" err=<nil>` {
		t.Fatalf("got %q", got)
	}
	c.expectEOF()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	testutil.WaitNoLeaks(t, "arbiter/worker/fastcgi.")
}

// A connection that Accept returns after Shutdown closed the listener (the
// accept raced the close; nginx's default fastcgi_pass opens one per
// request) is served as a draining one, and Shutdown waits for it. Closing
// it unread would reset the request nginx just sent.
func TestShutdownServesAConnectionAcceptedDuringTheClose(t *testing.T) {
	g := newGate()
	s := &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.wait(r.URL.Path)
		io.WriteString(w, "done "+r.URL.Path)
	})}
	l, nc := testutil.NewLateListener(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	<-l.Accepting()
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.send(wholeRequest(1, false, getEnv("/late"), nil))

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	g.waitEntered(t, "/late")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with the late request in flight", err)
	default:
	}
	g.open("/late")
	if got := c.response(1).body(); got != "done /late" {
		t.Fatalf("late connection: %q", got)
	}
	c.expectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	testutil.WaitNoLeaks(t, "arbiter/worker/fastcgi.")
}

// After Close, a connection accepted in the same instant is closed too.
func TestCloseClosesAConnectionAcceptedDuringTheClose(t *testing.T) {
	s := &Server{Handler: echoHandler}
	l, nc := testutil.NewLateListener(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	<-l.Accepting()
	s.Close()
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	c.expectEOF()
}
