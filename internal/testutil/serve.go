package testutil

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Server is what the protocol servers under test provide.
type Server interface {
	Serve(net.Listener) error
	Close() error
}

// Harness serves a Server on a loopback port for one test.
type Harness struct {
	T    testing.TB
	Addr string
	Logs *Buffer // where the server's log was pointed
	// ServeErr receives what Serve returned. The cleanup reads it, so a
	// test that reads it first must put it back.
	ServeErr chan error
}

// Serve runs srv on a fresh loopback listener until the test ends; then it
// closes srv, requires Serve to return http.ErrServerClosed, and requires
// that no goroutine mentioning one of leakMarkers is left (CheckLeaks).
func Serve(t testing.TB, srv Server, logs *Buffer, leakMarkers ...string) *Harness {
	t.Helper()
	CheckLeaks(t, leakMarkers...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &Harness{T: t, Addr: ln.Addr().String(), Logs: logs, ServeErr: make(chan error, 1)}
	go func() { h.ServeErr <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-h.ServeErr; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return h
}

// Dial opens a connection to the server, closed when the test ends.
func (h *Harness) Dial() net.Conn {
	h.T.Helper()
	c, err := net.Dial("tcp", h.Addr)
	if err != nil {
		h.T.Fatal(err)
	}
	h.T.Cleanup(func() { c.Close() })
	return c
}

// Exchange sends req on a new connection and returns what the server sends
// back until it closes the connection (or 10 s pass).
func (h *Harness) Exchange(req string) (string, error) {
	h.T.Helper()
	resp, _, err := h.exchange(req, false)
	return resp, err
}

// RoundTrip is Exchange with the connection half-closed after req, as a
// front end does once it has sent a request; it also returns the client's
// address (the peer the server logs), and fails the test on a read error.
func (h *Harness) RoundTrip(req string) (resp, local string) {
	h.T.Helper()
	resp, local, err := h.exchange(req, true)
	if err != nil {
		h.T.Fatalf("reading the response: %v", err)
	}
	return resp, local
}

func (h *Harness) exchange(req string, halfClose bool) (string, string, error) {
	c := h.Dial()
	if _, err := io.WriteString(c, req); err != nil {
		h.T.Fatal(err)
	}
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), c.LocalAddr().String(), err
}

// WaitLog waits up to 10 s for a log line that contains every one of parts.
func (h *Harness) WaitLog(parts ...string) {
	h.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(h.Logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("no log line with %q:\n%s", parts, h.Logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
