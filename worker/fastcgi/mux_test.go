package fastcgi

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate lets a test hold handlers by path and release them.
type gate struct {
	mu      sync.Mutex
	entered map[string]chan struct{}
	release map[string]chan struct{}
}

func newGate() *gate {
	return &gate{entered: map[string]chan struct{}{}, release: map[string]chan struct{}{}}
}

func (g *gate) chans(path string) (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.entered[path] == nil {
		g.entered[path] = make(chan struct{}, 1)
		g.release[path] = make(chan struct{})
	}
	return g.entered[path], g.release[path]
}

// wait blocks the handler for path until open(path).
func (g *gate) wait(path string) {
	entered, release := g.chans(path)
	entered <- struct{}{}
	<-release
}

func (g *gate) waitEntered(t *testing.T, path string) {
	t.Helper()
	entered, _ := g.chans(path)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("handler for %s did not start", path)
	}
}

func (g *gate) open(path string) {
	_, release := g.chans(path)
	close(release)
}

func postEnv(path string) []byte {
	return pairs("REQUEST_METHOD", "POST", "REQUEST_URI", path, "CONTENT_LENGTH", "")
}

// §6.10: two interleaved requests complete out of order; a handler that is
// blocked and has not read its body does not stall the other.
func TestMultiplexOutOfOrder(t *testing.T) {
	g := newGate()
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			g.wait("/slow")
		}
		echoHandler(w, r)
	})})
	c := dial(t, ts.addr)
	c.send(beginRec(1, roleResponder, flagKeepConn), beginRec(3, roleResponder, flagKeepConn),
		rec(typeParams, 1, postEnv("/slow")), rec(typeParams, 3, postEnv("/fast")),
		rec(typeParams, 3, nil), rec(typeParams, 1, nil),
		rec(typeStdin, 1, []byte("one")), rec(typeStdin, 3, []byte("three")), rec(typeStdin, 3, nil))
	g.waitEntered(t, "/slow")
	// Request 3 completes while request 1 is held.
	r := c.next()
	if r.id != 3 {
		t.Fatalf("first record is for request %d", r.id)
	}
	c.pending = append(c.pending, r)
	if got := c.response(3).body(); got != `POST /fast cl=-1 body="three" err=<nil>` {
		t.Fatalf("request 3: %q", got)
	}
	// Reuse id 3 while 1 is still active.
	c.send(wholeRequest(3, true, getEnv("/again"), nil))
	if got := c.response(3).body(); got != `GET /again cl=-1 body="" err=<nil>` {
		t.Fatalf("request 3 again: %q", got)
	}
	g.open("/slow")
	c.send(rec(typeStdin, 1, []byte(" more")), rec(typeStdin, 1, nil))
	if got := c.response(1).body(); got != `POST /slow cl=-1 body="one more" err=<nil>` {
		t.Fatalf("request 1: %q", got)
	}
}

// A handler that never reads its body, with more body than its buffer,
// does not stall the other requests of a multiplexed connection: its body
// fails with ErrBodyStalled after the stall limit.
func TestMultiplexUnreadBodyDoesNotBlock(t *testing.T) {
	g := newGate()
	bodyErr := make(chan error, 1)
	ts := start(t, &Server{BodyBuffer: 1024, stallLimit: 20 * time.Millisecond,
		Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hog" {
				g.wait("/hog")
				b, err := io.ReadAll(r.Body)
				if len(b) > 1024 {
					err = fmt.Errorf("read %d bytes, more than the buffer", len(b))
				}
				bodyErr <- err
				return
			}
			echoHandler(w, r)
		})})
	c := dial(t, ts.addr)
	c.send(beginRec(1, roleResponder, flagKeepConn), stream(typeParams, 1, postEnv("/hog"), 100),
		beginRec(2, roleResponder, flagKeepConn), stream(typeParams, 2, postEnv("/ok"), 100))
	g.waitEntered(t, "/hog")
	// 1 MB for the hog, then request 2's body behind it.
	c.send(bytes.Repeat(rec(typeStdin, 1, bytes.Repeat([]byte("h"), 1000)), 1000))
	c.send(rec(typeStdin, 2, []byte("not stuck")), rec(typeStdin, 2, nil))
	if got := c.response(2).body(); got != `POST /ok cl=-1 body="not stuck" err=<nil>` {
		t.Fatalf("request 2: %q", got)
	}
	g.open("/hog")
	if err := <-bodyErr; !errors.Is(err, ErrBodyStalled) {
		t.Fatalf("hog body: %v", err)
	}
	c.send(rec(typeStdin, 1, nil))
	if resp := c.response(1); resp.status() != 200 {
		t.Fatalf("hog status %d", resp.status())
	}
}

// Handlers that keep reading keep their bodies whole on a multiplexed
// connection, however small the buffer.
func TestMultiplexConcurrentUploads(t *testing.T) {
	// A generous stall limit: the handlers read steadily, so a policy that
	// drops a body as soon as its buffer is full fails this test, while a
	// loaded test machine does not.
	ts := start(t, &Server{BodyBuffer: 512, stallLimit: 10 * time.Second, Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.CopyBuffer(h, r.Body, make([]byte, 100))
		fmt.Fprintf(w, "%d %x %v", n, h.Sum(nil)[:8], err)
	})})
	c := dial(t, ts.addr)
	bodies := map[uint16][]byte{}
	for id := uint16(1); id <= 4; id++ {
		bodies[id] = bytes.Repeat([]byte{byte('a' + id)}, 100_000+int(id))
		c.send(beginRec(id, roleResponder, 0), stream(typeParams, id, postEnv("/up"), 100))
	}
	go func() {
		// Interleave the four bodies 1000 bytes at a time.
		var b []byte
		for off := 0; off < 100_010; off += 1000 {
			for id := uint16(1); id <= 4; id++ {
				if body := bodies[id]; off < len(body) {
					b = append(b, rec(typeStdin, id, body[off:min(off+1000, len(body))])...)
				}
			}
		}
		for id := uint16(1); id <= 4; id++ {
			b = append(b, rec(typeStdin, id, nil)...)
		}
		c.nc.Write(b)
	}()
	for id := uint16(1); id <= 4; id++ {
		sum := sha256.Sum256(bodies[id])
		want := fmt.Sprintf("%d %x <nil>", len(bodies[id]), sum[:8])
		if got := c.response(id).body(); got != want {
			t.Errorf("request %d: %q, want %q", id, got, want)
		}
	}
	c.expectEOF()
}

// A sole request on a connection that never multiplexed gets TCP
// back-pressure: a handler that starts reading late, long after the stall
// limit, still gets its whole body through a tiny buffer.
func TestSoleUploadBackPressure(t *testing.T) {
	ts := start(t, &Server{BodyBuffer: 1024, stallLimit: time.Millisecond,
		Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(100 * time.Millisecond)
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x %v", n, h.Sum(nil)[:8], err)
		})})
	body := make([]byte, 3<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	sum := sha256.Sum256(body)
	for _, cl := range []string{"", fmt.Sprint(len(body))} {
		c := dial(t, ts.addr)
		env := pairs("REQUEST_METHOD", "POST", "CONTENT_LENGTH", cl)
		go c.nc.Write(append(append(beginRec(1, roleResponder, 0), stream(typeParams, 1, env, 100)...),
			stream(typeStdin, 1, body, 32768)...))
		want := fmt.Sprintf("%d %x <nil>", len(body), sum[:8])
		if got := c.response(1).body(); got != want {
			t.Fatalf("CONTENT_LENGTH %q: got %q, want %q", cl, got, want)
		}
		c.expectEOF()
	}
}

// MaxRequests: a BEGIN beyond it is refused with OVERLOADED, or
// CANT_MPX_CONN when it is 1; an aborted request whose handler still runs
// keeps its slot until the handler returns.
func TestMaxRequests(t *testing.T) {
	for _, max := range []int{1, 2} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			g := newGate()
			ts := start(t, &Server{MaxRequests: max, Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
				g.wait(r.URL.Path)
				io.WriteString(w, r.URL.Path)
			})})
			c := dial(t, ts.addr)
			for id := 1; id <= max; id++ {
				c.send(wholeRequest(uint16(id), true, getEnv(fmt.Sprintf("/%d", id)), nil))
				g.waitEntered(t, fmt.Sprintf("/%d", id))
			}
			want := uint8(statusOverloaded)
			if max == 1 {
				want = statusCantMpxConn
			}
			c.send(wholeRequest(9, true, getEnv("/9"), nil))
			if resp := c.response(9); resp.records != 0 || resp.end.protocolStatus != want {
				t.Fatalf("over the limit: %d records, end %+v", resp.records, resp.end)
			}
			// Abort request 1: its id is free, its slot is not.
			c.send(rec(typeAbortRequest, 1, nil))
			if resp := c.response(1); resp.records != 0 {
				t.Fatalf("abort: %d records", resp.records)
			}
			c.send(wholeRequest(1, true, getEnv("/1b"), nil))
			if resp := c.response(1); resp.end.protocolStatus != want {
				t.Fatalf("slot of the aborted request reused: end %+v", resp.end)
			}
			g.open("/1")
			// Once the aborted handler has returned its slot is free.
			deadline := time.Now().Add(5 * time.Second)
			for {
				c.send(wholeRequest(1, true, getEnv("/1c"), nil))
				entered, _ := g.chans("/1c")
				select {
				case <-entered:
				case <-time.After(50 * time.Millisecond):
					if resp := c.response(1); resp.end.protocolStatus != want || time.Now().After(deadline) {
						t.Fatalf("end %+v", resp.end)
					}
					continue
				}
				break
			}
			g.open("/1c")
			if got := c.response(1).body(); got != "/1c" {
				t.Fatalf("got %q", got)
			}
			for id := 2; id <= max; id++ {
				g.open(fmt.Sprintf("/%d", id))
				if got := c.response(uint16(id)).body(); got != fmt.Sprintf("/%d", id) {
					t.Fatalf("got %q", got)
				}
			}
			if strings.Contains(ts.log.String(), "bad input") {
				t.Fatalf("logged: %s", ts.log)
			}
		})
	}
}
