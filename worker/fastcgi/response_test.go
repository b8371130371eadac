package fastcgi

// Responses: framing, streaming, panics, and requests answered without the
// handler.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// §6.15: output records are at most 65535 bytes, padded, the empty STDOUT
// record comes last, END_REQUEST after it, nothing after that.
func TestOutputFraming(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320,000 bytes
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/one":
			w.Write(big)
		case "/pieces":
			for i := 0; i < len(big); i += 1000 {
				w.Write(big[i : i+1000])
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})})
	c := dial(t, ts.addr)
	for _, path := range []string{"/one", "/pieces", "/empty"} {
		c.send(wholeRequest(1, true, getEnv(path), nil))
		var out []byte
		for {
			r := c.next()
			if r.typ == typeEndRequest {
				if len(out) == 0 && path != "/empty" {
					t.Fatalf("%s: no STDOUT", path)
				}
				break
			}
			if r.typ != typeStdout {
				t.Fatalf("%s: %v record", path, r.typ)
			}
			if len(r.content) == 0 {
				if r := c.next(); r.typ != typeEndRequest {
					t.Fatalf("%s: %v after the empty STDOUT", path, r.typ)
				}
				break
			}
			out = append(out, r.content...)
		}
		resp := response{stdout: out}
		switch path {
		case "/empty":
			if resp.status() != http.StatusNoContent || resp.body() != "" {
				t.Fatalf("%s: %q", path, out)
			}
		default:
			if resp.body() != string(big) {
				t.Fatalf("%s: body of %d bytes, want %d", path, len(resp.body()), len(big))
			}
		}
	}
}

// Flush sends STDOUT before the handler returns.
func TestFlushStreams(t *testing.T) {
	release := make(chan struct{})
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second")
	})})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, false, getEnv("/"), nil))
	r := c.next()
	if r.typ != typeStdout || !strings.HasSuffix(string(r.content), "\r\n\r\nfirst") || !strings.HasPrefix(string(r.content), "Status: 200 OK\r\n") {
		t.Fatalf("got %v %q", r.typ, r.content)
	}
	close(release)
	if resp := c.response(1); string(resp.stdout) != "second" || !resp.emptyOut {
		t.Fatalf("rest %q", resp.stdout)
	}
	c.expectEOF()
}

// Handler panics: 500 when nothing was sent, END_REQUEST with appStatus 1
// either way, logged once; http.ErrAbortHandler is not logged.
func TestHandlerPanic(t *testing.T) {
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/early":
			w.Header().Set("X-Lost", "1")
			io.WriteString(w, "lost")
			panic("boom early")
		case "/late":
			io.WriteString(w, "sent")
			w.(http.Flusher).Flush()
			panic("boom late")
		case "/abort":
			panic(http.ErrAbortHandler)
		}
	})})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, true, getEnv("/early"), nil))
	resp := c.response(1)
	if resp.status() != 500 || strings.Contains(string(resp.stdout), "lost") || resp.end.appStatus != 1 || !resp.emptyOut {
		t.Fatalf("early panic: %q %+v", resp.stdout, resp.end)
	}
	c.send(wholeRequest(1, true, getEnv("/late"), nil))
	resp = c.response(1)
	if resp.body() != "sent" || resp.end.appStatus != 1 {
		t.Fatalf("late panic: %q %+v", resp.stdout, resp.end)
	}
	c.send(wholeRequest(1, true, getEnv("/abort"), nil))
	if resp = c.response(1); resp.status() != 500 || resp.end.appStatus != 1 {
		t.Fatalf("abort panic: %q %+v", resp.stdout, resp.end)
	}
	ts.Shutdown(context.Background())
	if n := len(ts.log.Lines("panic serving GET /")); n != 2 {
		t.Fatalf("%d panic lines logged, want 2:\n%s", n, ts.log)
	}
}

// Variables that do not make a request get 400 without the handler; the
// connection stays.
func TestBadRequestParams(t *testing.T) {
	ts := start(t, &Server{Handler: echoHandler})
	c := dial(t, ts.addr)
	for _, env := range [][]byte{
		pairs("REQUEST_URI", "/no-method"),
		pairs("REQUEST_METHOD", "GET", "CONTENT_LENGTH", "abc"),
		pairs("REQUEST_METHOD", "GET", "HTTP_X", "a\r\nb"),
	} {
		c.send(wholeRequest(1, true, env, []byte("ignored")))
		if resp := c.response(1); resp.status() != 400 {
			t.Fatalf("%q: status %d", env, resp.status())
		}
	}
	c.send(wholeRequest(1, false, getEnv("/fine"), nil))
	if resp := c.response(1); resp.status() != 200 {
		t.Fatalf("status %d", resp.status())
	}
	if n := len(ts.log.Lines("bad CGI request")); n != 3 {
		t.Fatalf("%d lines logged, want 3", n)
	}
}

// The request the handler gets is built from the params completely.
func TestRequestFromParams(t *testing.T) {
	got := make(chan *http.Request, 1)
	ts := start(t, &Server{Handler: handlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r })})
	c := dial(t, ts.addr)
	c.send(wholeRequest(1, false, pairs("REQUEST_METHOD", "DELETE", "REQUEST_URI", "/a/b?x=1", "QUERY_STRING", "x=1",
		"SERVER_PROTOCOL", "HTTP/1.1", "HTTP_HOST", "h.test", "HTTPS", "on", "REMOTE_ADDR", "192.0.2.1",
		"REMOTE_PORT", "4242", "HTTP_X_ONE", "1", "CONTENT_LENGTH", "0"), nil))
	c.response(1)
	r := <-got
	if r.Method != "DELETE" || r.URL.Path != "/a/b" || r.URL.RawQuery != "x=1" || r.Host != "h.test" ||
		r.TLS == nil || r.RemoteAddr != "192.0.2.1:4242" || r.Header.Get("X-One") != "1" || r.ContentLength != 0 {
		t.Fatalf("request %+v", r)
	}
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context not cancelled after the handler returned")
	}
}
