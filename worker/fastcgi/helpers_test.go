package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
)

// ---- building records by hand ----

// record builds one record with explicit padding.
func record(t recType, id uint16, content []byte, pad int) []byte {
	b := []byte{version1, byte(t), byte(id >> 8), byte(id), byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
	b = append(b, content...)
	return append(b, make([]byte, pad)...)
}

// rec builds one record padded to 8.
func rec(t recType, id uint16, content []byte) []byte {
	return record(t, id, content, padLen(len(content)))
}

// beginRec builds BEGIN_REQUEST.
func beginRec(id uint16, role uint16, flags byte) []byte {
	return rec(typeBeginRequest, id, []byte{byte(role >> 8), byte(role), flags, 0, 0, 0, 0, 0})
}

// pairs encodes name-value pairs given as name, value, name, value, ...
func pairs(kv ...string) []byte {
	var b []byte
	for i := 0; i+1 < len(kv); i += 2 {
		b = appendParam(b, kv[i], kv[i+1])
	}
	return b
}

// stream splits data into records of type t of at most size bytes each,
// then appends the empty record that ends the stream.
func stream(t recType, id uint16, data []byte, size int) []byte {
	var b []byte
	for len(data) > 0 {
		n := min(size, len(data))
		b = append(b, rec(t, id, data[:n])...)
		data = data[n:]
	}
	return append(b, rec(t, id, nil)...)
}

// getEnv is a minimal GET request's params.
func getEnv(uri string, extra ...string) []byte {
	return pairs(append([]string{"REQUEST_METHOD", "GET", "REQUEST_URI", uri, "SERVER_PROTOCOL", "HTTP/1.1",
		"HTTP_HOST", "example.test", "CONTENT_LENGTH", ""}, extra...)...)
}

// request builds a whole request: BEGIN, PARAMS, STDIN.
func wholeRequest(id uint16, keep bool, params, body []byte) []byte {
	var flags byte
	if keep {
		flags = flagKeepConn
	}
	b := beginRec(id, roleResponder, flags)
	b = append(b, stream(typeParams, id, params, maxContent)...)
	return append(b, stream(typeStdin, id, body, maxContent)...)
}

// ---- reading what the server sends ----

type rawRecord struct {
	typ     recType
	id      uint16
	content []byte
	padding int
}

type endRequest struct {
	appStatus      uint32
	protocolStatus uint8
}

func (r rawRecord) end() endRequest {
	return endRequest{binary.BigEndian.Uint32(r.content[0:4]), r.content[4]}
}

// readRecord reads one record and checks its framing: version 1, padding
// to 8 as this server always pads, and only the types a responder may send
// (STDERR only empty: the nudge).
func readRecord(br *bufio.Reader) (rawRecord, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return rawRecord{}, err
	}
	if h[0] != version1 {
		return rawRecord{}, fmt.Errorf("record version %d", h[0])
	}
	r := rawRecord{typ: recType(h[1]), id: binary.BigEndian.Uint16(h[2:4]), padding: int(h[6])}
	n := int(binary.BigEndian.Uint16(h[4:6]))
	if r.padding != padLen(n) {
		return r, fmt.Errorf("%v record with %d content bytes has padding %d", r.typ, n, r.padding)
	}
	switch r.typ {
	case typeStdout, typeEndRequest, typeGetValuesResult, typeUnknownType:
	case typeStderr: // only the nudge, empty
		if n != 0 {
			return r, fmt.Errorf("server sent a STDERR record with %d bytes", n)
		}
	default:
		return r, fmt.Errorf("server sent a %v record", r.typ)
	}
	if (r.typ == typeGetValuesResult || r.typ == typeUnknownType) != (r.id == 0) {
		return r, fmt.Errorf("%v record with request id %d", r.typ, r.id)
	}
	if (r.typ == typeEndRequest || r.typ == typeUnknownType) && n != 8 {
		return r, fmt.Errorf("%v record with %d content bytes", r.typ, n)
	}
	r.content = make([]byte, n)
	if _, err := io.ReadFull(br, r.content); err != nil {
		return r, err
	}
	if _, err := br.Discard(r.padding); err != nil {
		return r, err
	}
	return r, nil
}

// response is what the server sent for one request id.
type response struct {
	stdout   []byte
	records  int // STDOUT records, the empty one included
	end      endRequest
	emptyOut bool // the empty STDOUT record came (right) before END_REQUEST
	nudges   int  // empty STDERR records (nudges) for the id before its STDOUT
}

// isNudge reports whether r is a nudge: an empty STDERR record.
func isNudge(r rawRecord) bool { return r.typ == typeStderr && len(r.content) == 0 }

// status returns the CGI Status of the response, 200 if there is none.
func (r response) status() int {
	head, _, _ := strings.Cut(string(r.stdout), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(line, "Status: "); ok {
			var code int
			fmt.Sscanf(v, "%d", &code)
			return code
		}
	}
	return 200
}

// body returns what follows the CGI header block.
func (r response) body() string {
	_, body, _ := strings.Cut(string(r.stdout), "\r\n\r\n")
	return body
}

// client speaks raw FastCGI to a server for a test.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	// pending holds records read for other ids while waiting for one.
	pending []rawRecord
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(parts ...[]byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(bytes.Join(parts, nil)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next returns the next record from the server, failing the test after 10 s.
func (c *client) next() rawRecord {
	c.t.Helper()
	if len(c.pending) > 0 {
		r := c.pending[0]
		c.pending = c.pending[1:]
		return r
	}
	r, err := c.nextErr()
	if err != nil {
		c.t.Fatalf("reading a record: %v", err)
	}
	return r
}

func (c *client) nextErr() (rawRecord, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return readRecord(c.br)
}

// response collects the response for id up to its END_REQUEST, keeping
// records of other ids for later. It checks that the STDOUT stream is
// well formed: at most 65535 bytes per record, the empty record last.
func (c *client) response(id uint16) response {
	c.t.Helper()
	var resp response
	var others []rawRecord
	for {
		r := c.next()
		if r.id != id {
			others = append(others, r)
			continue
		}
		switch {
		case isNudge(r) && resp.records == 0:
			// A nudge the request crossed: nginx skips it.
			resp.nudges++
		case r.typ == typeStdout:
			if resp.emptyOut {
				c.t.Fatalf("request %d: STDOUT after the empty STDOUT record", id)
			}
			resp.records++
			if len(r.content) == 0 {
				resp.emptyOut = true
			}
			resp.stdout = append(resp.stdout, r.content...)
		case r.typ == typeEndRequest:
			resp.end = r.end()
			c.pending = append(others, c.pending...)
			return resp
		default:
			c.t.Fatalf("request %d: unexpected %v record", id, r.typ)
		}
	}
}

// expectEOF checks that the server closes the connection next, cleanly.
// tryResponse is response for a connection the server may have closed:
// it reports false when the connection ends before the END_REQUEST of id.
func (c *client) tryResponse(id uint16) (response, bool) {
	c.t.Helper()
	var resp response
	for {
		r, err := c.nextErr()
		if err != nil {
			return resp, false
		}
		switch {
		case isNudge(r):
			resp.nudges++
		case r.id != id:
			c.t.Fatalf("record for request %d while waiting for %d", r.id, id)
		case r.typ == typeStdout:
			resp.records++
			resp.stdout = append(resp.stdout, r.content...)
		case r.typ == typeEndRequest:
			resp.end = r.end()
			return resp, true
		}
	}
}

// expectNudge checks that the next record is the nudge for request id.
func (c *client) expectNudge(id uint16) {
	c.t.Helper()
	if r := c.next(); !isNudge(r) || r.id != id {
		c.t.Fatalf("expected the nudge for request %d, got a %v record of %d bytes for %d", id, r.typ, len(r.content), r.id)
	}
}

func (c *client) expectEOF() {
	c.t.Helper()
	if len(c.pending) > 0 {
		c.t.Fatalf("expected EOF, have %v record for %d pending", c.pending[0].typ, c.pending[0].id)
	}
	r, err := c.nextErr()
	if err == nil {
		c.t.Fatalf("expected EOF, got a %v record for request %d", r.typ, r.id)
	}
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("expected a clean EOF, got %v", err)
	}
}

// ---- servers for tests ----

type testServer struct {
	*Server
	addr  string
	log   *testutil.Buffer
	serve chan error
}

// start serves s on a loopback port. Cleanup closes it, checks that Serve
// returned http.ErrServerClosed, that no goroutine of the package is left,
// and that nothing was logged as an internal error.
func start(t testing.TB, s *Server) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: l.Addr().String(), log: &testutil.Buffer{}, serve: make(chan error, 1)}
	if s.Log == nil {
		s.Log = peerlog.New(zerolog.New(ts.log), "fastcgi")
	}
	go func() { ts.serve <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-ts.serve:
			if err != http.ErrServerClosed {
				t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return")
		}
		testutil.WaitNoLeaks(t, "arbiter/worker/fastcgi.")
		if l := ts.log.Lines("internal error"); len(l) > 0 {
			t.Errorf("internal error logged: %s", l[0])
		}
	})
	return ts
}

// handlerFunc adapts a function for a Server.
type handlerFunc = http.HandlerFunc

// echoHandler answers with the method, the URI, ContentLength and the body.
var echoHandler = handlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s cl=%d body=%q err=%v", r.Method, r.RequestURI, r.ContentLength, body, err)
})
