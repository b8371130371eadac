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

// Shutdown drains: the listener closes at once; requests keep being served
// on open connections (a front end's pool may send one at any moment). A
// pooled connection idle at the drain is nudged at once, one busy after its
// response, and each closes when the peer closes it, or nudgeWait after
// the nudge; a request that crosses the nudge is served. A connection the
// peer multiplexes is never nudged and closes once idle for drainIdle.
// Shutdown returns when none is left.
func TestShutdownWithRequestsInFlight(t *testing.T) {
	g := newGate()
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/held" {
			g.wait("/held")
		}
		io.WriteString(w, "done "+r.URL.Path)
	})})
	pooled := func() *client {
		c := dial(t, ts.addr)
		c.send(wholeRequest(1, true, getEnv("/first"), nil))
		c.response(1)
		return c
	}
	idle, crossing, held := pooled(), pooled(), pooled()
	held.send(wholeRequest(1, true, getEnv("/held"), nil))
	mpx := dial(t, ts.addr)
	mpx.send(wholeRequest(1, true, getEnv("/held"), nil))
	g.waitEntered(t, "/held")
	g.waitEntered(t, "/held")

	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	idle.expectNudge(1)
	nudged := time.Now()
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("listener still accepts")
	}
	idle.nc.Close() // as nginx does with a nudged idle connection

	// nginx uses id 1 for every request: the nudge and the request cross.
	crossing.send(wholeRequest(1, true, getEnv("/late"), nil))
	if got := crossing.response(1); got.body() != "done /late" || got.nudges > 1 {
		t.Fatalf("request across the nudge: %q, %d nudges before it", got.body(), got.nudges)
	}
	crossing.expectNudge(1)
	// This peer ignores nudges: the connection closes nudgeWait after.
	crossing.expectEOF()
	if waited := time.Since(nudged); waited < nudgeWait {
		t.Fatalf("nudged connection closed after %v, before nudgeWait", waited)
	}

	// A second request on the multiplexing connection, then its first
	// answer; it closes after drainIdle without a nudge.
	mpx.send(wholeRequest(2, true, getEnv("/new"), nil))
	if got := mpx.response(2).body(); got != "done /new" {
		t.Fatalf("new request on a busy connection during the drain: %q", got)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with requests in flight", err)
	default:
	}
	g.open("/held")
	if got := held.response(1).body(); got != "done /held" {
		t.Fatalf("got %q", got)
	}
	held.expectNudge(1)
	held.nc.Close()
	if got := mpx.response(1).body(); got != "done /held" {
		t.Fatalf("got %q", got)
	}
	mpx.expectEOF()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A peer that ignores nudges and never lets a connection go quiet is closed
// at a request boundary three quarters of the way to the drain's deadline,
// not cut off at the deadline.
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
	// Once the drain has begun (the first nudge), every response carries
	// one; the nudge after response n is read with response n+1.
	served, nudges, unnudged := 0, 0, 0
	for id := uint16(1); ; id++ {
		c.send(wholeRequest(id, true, getEnv("/busy"), nil))
		resp, ok := c.tryResponse(id)
		if nudges > 0 && resp.nudges == 0 {
			unnudged++
		}
		nudges += resp.nudges
		if !ok {
			break
		}
		if resp.body() != "ok" {
			t.Fatalf("request %d: %q", id, resp.body())
		}
		// The next request goes out as soon as END_REQUEST is read, as
		// nginx sends it: the connection is never idle, and must not look
		// multiplexed (which would stop the nudges).
		served++
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v (the connection should close before the deadline)", err)
	}
	if served < 10 {
		t.Fatalf("only %d requests served before the close", served)
	}
	if nudges == 0 || unnudged > 0 {
		t.Fatalf("%d responses, %d nudges; %d responses after the first nudge without one", served, nudges, unnudged)
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
		// A pooled connection is nudged at the idle timeout, then closed
		// nudgeWait later; one that never had a request is closed.
		c.expectNudge(1)
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
