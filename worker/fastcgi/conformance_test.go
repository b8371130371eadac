package fastcgi

// Byte-level tests of the FastCGI cases of research/protocols.md §6, one
// group per numbered case.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// §6.1: PARAMS split over many records, a pair straddling a boundary, 1-
// and 4-byte lengths (cgi-fcgi splits into 8184-byte records).
func TestParamsSplitAcrossRecords(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	var got = make(chan map[string]string, 4)
	ts := start(t, &Server{MaxParamsBytes: 256 << 10, Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- map[string]string{"big": r.Header.Get("X-Big"), "short": r.Header.Get("X-Short"), "uri": r.RequestURI}
	})})
	params := getEnv("/split?q=1", "HTTP_X_SHORT", "s", "HTTP_X_BIG", big, strings.Repeat("N", 200), "v")
	for _, size := range []int{1, 7, 8184, maxContent} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := dial(t, ts.addr)
			c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, params, size), stream(typeStdin, 1, nil, 1))
			resp := c.response(1)
			if resp.status() != 200 || resp.end != (endRequest{0, statusRequestComplete}) {
				t.Fatalf("status %d, end %+v", resp.status(), resp.end)
			}
			env := <-got
			if env["big"] != big || env["short"] != "s" || env["uri"] != "/split?q=1" {
				t.Fatalf("params decoded wrongly: len(big)=%d short=%q uri=%q", len(env["big"]), env["short"], env["uri"])
			}
			c.expectEOF()
		})
	}
}

// §6.2: params over the cap (the default, 64 KiB, and a small one) are
// answered 431 without buffering them; the connection stays usable.
func TestParamsOverCap(t *testing.T) {
	for _, max := range []int{0, 1000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			ts := start(t, &Server{MaxParamsBytes: max, Handler: echoHandler})
			c := dial(t, ts.addr)
			huge := pairs("HTTP_X_HUGE", strings.Repeat("y", 1<<20))
			c.send(beginRec(1, roleResponder, flagKeepConn), stream(typeParams, 1, huge, maxContent), stream(typeStdin, 1, []byte("abc"), 2))
			resp := c.response(1)
			if resp.status() != http.StatusRequestHeaderFieldsTooLarge || !resp.emptyOut {
				t.Fatalf("got status %d, stdout %q", resp.status(), resp.stdout)
			}
			// Just under the cap is fine.
			limit := max
			if limit == 0 {
				limit = DefaultMaxParamsBytes
			}
			env := getEnv("/after")
			env = append(env, pairs("HTTP_X_PAD", strings.Repeat("p", limit-len(env)-len(pairs("HTTP_X_PAD", ""))-4))...)
			if len(env) > limit {
				t.Fatalf("test params of %d bytes", len(env))
			}
			c.send(wholeRequest(1, true, env, nil))
			if resp := c.response(1); resp.body() != `GET /after cl=-1 body="" err=<nil>` {
				t.Fatalf("next request: %q", resp.body())
			}
			if n := len(ts.log.Lines(fmt.Sprintf("params over %d bytes", limit))); n != 1 {
				t.Fatalf("logged %d lines about the params, want 1:\n%s", n, ts.log)
			}
		})
	}
}

// §6.3: a GET with only an empty STDIN; EOF before any STDIN.
func TestGetAndEOFBeforeStdin(t *testing.T) {
	type seen struct {
		body   string
		err    error
		ctxErr error
	}
	got := make(chan seen, 1)
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			<-r.Context().Done()
		}
		got <- seen{string(b), err, r.Context().Err()}
	})})

	c := dial(t, ts.addr)
	c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, getEnv("/"), maxContent), rec(typeStdin, 1, nil))
	if resp := c.response(1); resp.status() != 200 {
		t.Fatalf("status %d", resp.status())
	}
	if s := <-got; s.body != "" || s.err != nil {
		t.Fatalf("GET body %q, %v", s.body, s.err)
	}

	c = dial(t, ts.addr)
	c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, pairs("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "5"), 100))
	c.nc.Close()
	s := <-got
	if !errors.Is(s.err, io.ErrUnexpectedEOF) || s.ctxErr == nil {
		t.Fatalf("EOF before STDIN: body %q err %v ctx %v", s.body, s.err, s.ctxErr)
	}
}

// §6.4: CONTENT_LENGTH "", absent or "-1": ContentLength -1, body read to
// the empty STDIN record.
func TestStreamedBody(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	body := bytes.Repeat([]byte("0123456789"), 20_000)
	for name, env := range map[string][]string{
		"empty":  {"REQUEST_METHOD", "POST", "REQUEST_URI", "/u", "CONTENT_LENGTH", ""},
		"absent": {"REQUEST_METHOD", "POST", "REQUEST_URI", "/u"},
		"-1":     {"REQUEST_METHOD", "POST", "REQUEST_URI", "/u", "CONTENT_LENGTH", "-1"},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, ts.addr)
			c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, pairs(env...), maxContent), stream(typeStdin, 1, body, 4000))
			want := fmt.Sprintf("POST /u cl=-1 body=%q err=<nil>", body)
			if got := c.response(1).body(); got != want {
				t.Fatalf("got %.200q", got)
			}
		})
	}
}

// §6.5: STDIN longer or shorter than CONTENT_LENGTH.
func TestContentLengthMismatch(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	env := func(n string) []byte { return pairs("REQUEST_METHOD", "PUT", "REQUEST_URI", "/m", "CONTENT_LENGTH", n) }
	tests := []struct {
		name, cl, sent, want string
	}{
		{"longer", "3", "abcdef", `PUT /m cl=3 body="abc" err=<nil>`},
		{"shorter", "10", "abc", `PUT /m cl=10 body="abc" err=unexpected EOF`},
		{"exact", "6", "abcdef", `PUT /m cl=6 body="abcdef" err=<nil>`},
		{"zero", "0", "abc", `PUT /m cl=0 body="" err=<nil>`},
	}
	c := dial(t, ts.addr)
	for _, tt := range tests {
		c.send(beginRec(1, roleResponder, flagKeepConn), stream(typeParams, 1, env(tt.cl), 100), stream(typeStdin, 1, []byte(tt.sent), 2))
		if got := c.response(1).body(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// §6.6: ABORT_REQUEST mid-body and mid-handler: exactly one END_REQUEST,
// the context cancelled, nothing more for that id.
func TestAbort(t *testing.T) {
	type seen struct {
		ctxErr   error
		bodyErr  error
		writeErr error
	}
	got := make(chan seen, 1)
	inHandler := make(chan struct{}, 1)
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inHandler <- struct{}{}
		var s seen
		if r.URL.Path == "/body" {
			_, s.bodyErr = io.ReadAll(r.Body)
		}
		<-r.Context().Done()
		s.ctxErr = r.Context().Err()
		w.Write(bytes.Repeat([]byte("z"), 100_000)) // more than the buffers: reaches the connection
		s.writeErr = http.NewResponseController(w).Flush()
		got <- s
	})})

	for _, path := range []string{"/body", "/handler"} {
		t.Run(path, func(t *testing.T) {
			c := dial(t, ts.addr)
			env := pairs("REQUEST_METHOD", "POST", "REQUEST_URI", path, "CONTENT_LENGTH", "100")
			c.send(beginRec(1, roleResponder, flagKeepConn), stream(typeParams, 1, env, 100))
			if path == "/body" {
				c.send(rec(typeStdin, 1, []byte("partial")))
			} else {
				c.send(stream(typeStdin, 1, bytes.Repeat([]byte("b"), 100), 100))
			}
			<-inHandler
			c.send(rec(typeAbortRequest, 1, nil))
			resp := c.response(1)
			if resp.end.protocolStatus != statusRequestComplete || resp.records != 0 {
				t.Fatalf("abort: %d STDOUT records, end %+v", resp.records, resp.end)
			}
			s := <-got
			if s.ctxErr != context.Canceled || !errors.Is(s.writeErr, ErrAborted) {
				t.Fatalf("handler saw ctx %v, write %v", s.ctxErr, s.writeErr)
			}
			if path == "/body" && !errors.Is(s.bodyErr, ErrAborted) {
				t.Fatalf("body read: %v", s.bodyErr)
			}
			// A second ABORT for the now inactive id is ignored; the next
			// request with the same id is answered, and nothing for the
			// aborted one came in between.
			c.send(rec(typeAbortRequest, 1, nil), wholeRequest(2, true, getEnv("/next"), nil))
			<-inHandler
			c.send(rec(typeAbortRequest, 2, nil))
			if r := c.next(); r.typ != typeEndRequest || r.id != 2 {
				t.Fatalf("after abort: %v record for %d", r.typ, r.id)
			}
			<-got
		})
	}
}

// An ABORT_REQUEST while the params are still arriving: END_REQUEST at
// once, no handler.
func TestAbortDuringParams(t *testing.T) {
	called := make(chan struct{}, 1)
	ts := start(t, &Server{Handler: handlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} })})
	c := dial(t, ts.addr)
	c.send(beginRec(3, roleResponder, flagKeepConn), rec(typeParams, 3, getEnv("/")), rec(typeAbortRequest, 3, nil))
	if resp := c.response(3); resp.records != 0 {
		t.Fatalf("%d STDOUT records", resp.records)
	}
	// Late records for the aborted id are ignored.
	c.send(rec(typeParams, 3, nil), rec(typeStdin, 3, []byte("late")), wholeRequest(4, false, getEnv("/4"), nil))
	if resp := c.response(4); resp.status() != 200 {
		t.Fatalf("status %d", resp.status())
	}
	<-called
	select {
	case <-called:
		t.Fatal("the aborted request's handler ran")
	default:
	}
	c.expectEOF()
}

// §6.7: ABORT and STDIN for inactive or never-begun ids are ignored.
func TestInactiveIDsIgnored(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	c := dial(t, ts.addr)
	c.send(rec(typeAbortRequest, 9, nil), rec(typeStdin, 9, []byte("x")), rec(typeStdin, 9, nil),
		rec(typeParams, 10, getEnv("/")), rec(typeData, 11, []byte("d")),
		wholeRequest(1, false, getEnv("/ok"), nil))
	if got := c.response(1).body(); got != `GET /ok cl=-1 body="" err=<nil>` {
		t.Fatalf("got %q", got)
	}
	c.expectEOF()
}

// §6.8: an unknown management type gets UNKNOWN_TYPE; an unknown type on an
// active id is skipped; BEGIN_REQUEST with id 0 is a management record too.
func TestUnknownTypes(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	c := dial(t, ts.addr)
	c.send(rec(0x20, 0, []byte("what")), beginRec(0, roleResponder, 0))
	for _, want := range []recType{0x20, typeBeginRequest} {
		r := c.next()
		if r.typ != typeUnknownType || r.content[0] != byte(want) || !bytes.Equal(r.content[1:], make([]byte, 7)) {
			t.Fatalf("got %v %x, want UNKNOWN_TYPE for %v", r.typ, r.content, want)
		}
	}
	c.send(beginRec(1, roleResponder, 0), rec(0x20, 1, []byte("skip")), rec(typeData, 1, []byte("data")),
		stream(typeParams, 1, getEnv("/t"), 100), rec(0x30, 1, nil), stream(typeStdin, 1, nil, 1))
	if got := c.response(1).body(); got != `GET /t cl=-1 body="" err=<nil>` {
		t.Fatalf("got %q", got)
	}
	c.expectEOF()
}

// §6.9: GET_VALUES with the three names and an unknown one: one result
// record with the known names and the real values.
func TestGetValues(t *testing.T) {
	for _, tt := range []struct {
		srv  *Server
		want map[string]string
	}{
		{&Server{MaxConns: 7, MaxRequests: 5}, map[string]string{"FCGI_MAX_CONNS": "7", "FCGI_MAX_REQS": "5", "FCGI_MPXS_CONNS": "1"}},
		{&Server{MaxConns: 2, MaxRequests: 1}, map[string]string{"FCGI_MAX_CONNS": "2", "FCGI_MAX_REQS": "1", "FCGI_MPXS_CONNS": "0"}},
		{&Server{}, map[string]string{"FCGI_MAX_CONNS": fmt.Sprint(openFileLimit()), "FCGI_MAX_REQS": "16", "FCGI_MPXS_CONNS": "1"}},
	} {
		t.Run(fmt.Sprint(tt.want), func(t *testing.T) {
			ts := start(t, tt.srv)
			c := dial(t, ts.addr)
			q := pairs("FCGI_MAX_CONNS", "", "FCGI_UNKNOWN", "", "FCGI_MAX_REQS", "", "FCGI_MPXS_CONNS", "", "FCGI_MAX_REQS", "")
			c.send(rec(typeGetValues, 0, q), wholeRequest(1, false, getEnv("/"), nil))
			r := c.next()
			if r.typ != typeGetValuesResult {
				t.Fatalf("got %v", r.typ)
			}
			got := map[string]string{}
			if err := parseParams(string(r.content), func(n, v string) { got[n] = v }); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(r.content) != len(pairs("FCGI_MAX_CONNS", tt.want["FCGI_MAX_CONNS"],
				"FCGI_MAX_REQS", tt.want["FCGI_MAX_REQS"], "FCGI_MPXS_CONNS", tt.want["FCGI_MPXS_CONNS"])) {
				t.Errorf("GET_VALUES_RESULT %v (%d bytes), want %v", got, len(r.content), tt.want)
			}
			if r := c.next(); r.typ != typeStdout || r.id != 1 {
				t.Fatalf("after the result: %v record for %d (a second result?)", r.typ, r.id)
			}
		})
	}
}

// §6.11: roles other than RESPONDER get UNKNOWN_ROLE; KEEP_CONN is still
// honoured.
func TestUnknownRole(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	c := dial(t, ts.addr)
	for i, role := range []uint16{2, 3, 0, 999} {
		id := uint16(i + 1)
		c.send(beginRec(id, role, flagKeepConn), stream(typeParams, id, getEnv("/"), 100), stream(typeStdin, id, nil, 1))
		if resp := c.response(id); resp.records != 0 || resp.end.protocolStatus != statusUnknownRole {
			t.Fatalf("role %d: %d STDOUT records, end %+v", role, resp.records, resp.end)
		}
	}
	c.send(beginRec(9, 2, 0))
	if resp := c.response(9); resp.end.protocolStatus != statusUnknownRole {
		t.Fatalf("end %+v", resp.end)
	}
	c.expectEOF()
}

// §6.12, §6.13, §6.16: protocol errors close the connection and are logged
// once; EOF mid-record closes it quietly.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name   string
		input  []byte
		reason string // "" = closed without a log line
	}{
		{"version 0", append([]byte{0}, beginRec(1, 1, 0)[1:]...), "record version 0"},
		{"version 2", append([]byte{2}, beginRec(1, 1, 0)[1:]...), "record version 2"},
		{"begin short", rec(typeBeginRequest, 1, []byte{0, 1, 0}), "BEGIN_REQUEST with 3 content bytes"},
		{"begin long", rec(typeBeginRequest, 1, make([]byte, 9)), "BEGIN_REQUEST with 9 content bytes"},
		{"begin twice", append(beginRec(1, 1, 0), beginRec(1, 1, 0)...), "which is active"},
		{"stdin before params end", append(beginRec(1, 1, 0), rec(typeStdin, 1, []byte("x"))...), "STDIN for request 1 before"},
		{"params after end", append(append(beginRec(1, 1, 0), stream(typeParams, 1, getEnv("/"), 99)...), rec(typeParams, 1, []byte("x"))...), "after its params stream ended"},
		{"stdin after end", append(append(beginRec(1, 1, 0), stream(typeParams, 1, pairs("REQUEST_METHOD", "POST", "CONTENT_LENGTH", ""), 99)...), append(rec(typeStdin, 1, nil), rec(typeStdin, 1, []byte("x"))...)...), "after its stdin stream ended"},
		{"pair past end", append(beginRec(1, 1, 0), stream(typeParams, 1, []byte{5, 5, 'a', 'b'}, 99)...), "runs past the end"},
		{"huge length", append(beginRec(1, 1, 0), stream(typeParams, 1, []byte{0xff, 0xff, 0xff, 0xff, 1, 'a'}, 99)...), "runs past the end"},
		{"truncated 4-byte length", append(beginRec(1, 1, 0), stream(typeParams, 1, []byte{1, 0x80, 0}, 99)...), "truncated value length"},
		{"NUL in name", append(beginRec(1, 1, 0), stream(typeParams, 1, pairs("A\x00B", "v"), 99)...), "NUL in name"},
		{"empty name", append(beginRec(1, 1, 0), stream(typeParams, 1, pairs("", "v"), 99)...), "empty name"},
		{"bad GET_VALUES", rec(typeGetValues, 0, []byte{9}), "GET_VALUES"},
		{"EOF mid-header", beginRec(1, 1, 0)[:5], ""},
		{"EOF mid-record", beginRec(1, 1, 0)[:12], ""},
		{"EOF mid-padding", record(typeStdin, 5, []byte("x"), 200)[:50], ""},
	}
	// A handler that answers only when its request ends: the request is
	// still active when the bad record arrives (with echoHandler, "stdin
	// after end" could be answered first, and a STDIN record for a request
	// already answered is ignored, §3.3).
	waitHandler := handlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, &Server{Handler: waitHandler})
			c := dial(t, ts.addr)
			c.send(tt.input)
			if tt.reason == "" {
				c.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			// The connection must close.
			for i := 0; ; i++ {
				r, err := c.nextErr()
				if err != nil {
					break
				}
				if i > 10 {
					t.Fatalf("got a %v record, want the connection closed", r.typ)
				}
			}
			ts.Shutdown(context.Background())
			lines := ts.log.Lines("bad input")
			if tt.reason == "" {
				if len(lines) != 0 {
					t.Fatalf("logged %q", lines)
				}
				return
			}
			if len(lines) != 1 || !strings.Contains(lines[0], tt.reason) || !strings.Contains(lines[0], c.nc.LocalAddr().String()) {
				t.Fatalf("want one line naming the peer and %q, got %q", tt.reason, lines)
			}
		})
	}
}

// §6.13: padding up to 255 and a 65535-byte record are accepted.
func TestPaddingAndMaxRecord(t *testing.T) {
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		fmt.Fprintf(w, "%d %x %v", len(b), sum[:4], err)
	})})
	c := dial(t, ts.addr)
	body := bytes.Repeat([]byte("p"), maxContent)
	sum := sha256.Sum256(append(body, body...))
	c.send(record(typeBeginRequest, 1, []byte{0, 1, 0, 0, 0, 0, 0, 0}, 255),
		record(typeParams, 1, pairs("REQUEST_METHOD", "POST"), 255), record(typeParams, 1, nil, 255),
		record(typeStdin, 1, body, 255), record(typeStdin, 1, body, 0), record(typeStdin, 1, nil, 3))
	want := fmt.Sprintf("%d %x <nil>", 2*maxContent, sum[:4])
	if got := c.response(1).body(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// §6.14: 1000 sequential keep-conn requests reusing id 1; KEEP_CONN=0
// closes after the response, cleanly, even with input left unread.
func TestKeepConn(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	c := dial(t, ts.addr)
	for i := range 1000 {
		c.send(wholeRequest(1, true, getEnv(fmt.Sprintf("/%d", i)), nil))
		want := fmt.Sprintf(`GET /%d cl=-1 body="" err=<nil>`, i)
		if got := c.response(1).body(); got != want {
			t.Fatalf("request %d: got %q", i, got)
		}
	}
	// KEEP_CONN=0 with STDIN still coming: the response, then a clean EOF.
	post := pairs("REQUEST_METHOD", "POST", "REQUEST_URI", "/last", "CONTENT_LENGTH", "3")
	c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, post, 100), rec(typeStdin, 1, []byte("abc")))
	if got := c.response(1).body(); got != `POST /last cl=3 body="abc" err=<nil>` {
		t.Fatalf("got %q", got)
	}
	c.send(rec(typeStdin, 1, []byte("trailing junk the server never reads")), rec(typeStdin, 1, nil))
	c.expectEOF()
}

// A handler that does not read its body, with KEEP_CONN=0: the connection
// still closes cleanly (no reset) while the rest of the body arrives.
func TestKeepConnOffUnreadBody(t *testing.T) {
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "early") })})
	c := dial(t, ts.addr)
	env := pairs("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "")
	c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, env, 100), rec(typeStdin, 1, []byte("first")))
	if got := c.response(1).body(); got != "early" {
		t.Fatalf("got %q", got)
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.nc.Write(stream(typeStdin, 1, bytes.Repeat([]byte("q"), 200_000), maxContent))
	}()
	c.expectEOF()
	<-sent
}

// nginx before 1.23 sends one HTTP_* param per header line: repeated client
// headers arrive merged (", ", "; " for cookies), other repeated params keep
// their last value.
func TestRepeatedHeaderParamsMerge(t *testing.T) {
	got := make(chan http.Header, 1)
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	})})
	c := dial(t, ts.addr)
	params := getEnv("/h", "HTTP_X_FORWARDED_FOR", "192.0.2.1", "HTTP_X_FORWARDED_FOR", "192.0.2.2",
		"HTTP_COOKIE", "a=1", "HTTP_COOKIE", "b=2")
	c.send(beginRec(1, roleResponder, 0), stream(typeParams, 1, params, 100), stream(typeStdin, 1, nil, 1))
	if resp := c.response(1); resp.status() != 200 {
		t.Fatalf("status %d", resp.status())
	}
	h := <-got
	if v := h.Get("X-Forwarded-For"); v != "192.0.2.1, 192.0.2.2" {
		t.Errorf("X-Forwarded-For %q", v)
	}
	if v := h.Get("Cookie"); v != "a=1; b=2" {
		t.Errorf("Cookie %q", v)
	}
}
