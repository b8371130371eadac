package wsgi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// frames builds what an app process sends: each part is a frame type and
// its payload.
func frames(parts ...any) []byte {
	var b []byte
	for i := 0; i < len(parts); i += 2 {
		p := []byte(parts[i+1].(string))
		b = append(appendHeader(b, byte(parts[i].(rune)), len(p)), p...)
	}
	return b
}

// A streamed response (HEADERS, BODY..., END) already whole in the read
// buffer is answered like a COMPLETE frame: the bodies joined, a
// Content-Length, the slot free when respondBuffered returns. Anything
// else leaves the reader untouched for the streaming path.
func TestRespondBuffered(t *testing.T) {
	const ok = "200 OK\x00Content-Type\x00text/plain"
	end := string([]byte{endOK})
	whole := frames(frameHeaders, ok, frameBody, "hello", frameEnd, end)
	for _, tc := range []struct {
		name     string
		data     []byte
		method   string
		want     bool
		body, cl string
	}{
		{"one body", whole, "GET", true, "hello", "5"},
		{"bodies joined", frames(frameHeaders, ok, frameBody, "a", frameBody, "", frameBody, "bc", frameEnd, end), "GET", true, "abc", "3"},
		{"no body", frames(frameHeaders, ok, frameEnd, end), "GET", true, "", "0"},
		{"the app's Content-Length", frames(frameHeaders, "200 OK\x00Content-Length\x003", frameBody, "abc", frameEnd, end), "GET", true, "abc", "3"},
		{"HEAD", frames(frameHeaders, "200 OK\x00Content-Length\x0042", frameEnd, end), "HEAD", true, "", "42"},
		{"no END yet", frames(frameHeaders, ok, frameBody, "hello"), "GET", false, "", ""},
		{"END's code missing", whole[:len(whole)-1], "GET", false, "", ""},
		{"END's header cut", whole[:len(whole)-3], "GET", false, "", ""},
		{"BODY cut", whole[:len(whole)-8], "GET", false, "", ""},
		{"END abort", frames(frameHeaders, ok, frameBody, "part", frameEnd, string([]byte{endAbort})), "GET", false, "", ""},
		{"END of two bytes", frames(frameHeaders, ok, frameEnd, "\x00\x00"), "GET", false, "", ""},
		{"a LOG inside", frames(frameHeaders, ok, frameLog, "\x01hi", frameBody, "x", frameEnd, end), "GET", false, "", ""},
		{"SENDFILE", frames(frameHeaders, ok, frameSendfile, string(make([]byte, 16)), frameEnd, end), "GET", false, "", ""},
		{"an unknown frame", frames(frameHeaders, ok, '?', "", frameEnd, end), "GET", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, s := fuzzHandler()
			c, peer, err := socketPair()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			defer unix.Close(peer)
			s.c, s.rd = c, newFrameReader(c)
			if _, err := unix.Write(peer, tc.data); err != nil {
				t.Fatal(err)
			}
			kind, n, err := s.rd.header()
			if err != nil || kind != frameHeaders {
				t.Fatalf("header: %q %v", kind, err)
			}
			if err := s.rd.fill(len(tc.data) - hdrLen); err != nil {
				t.Fatal(err)
			}
			start, endAt := s.rd.start, s.rd.end
			before := bytes.Clone(s.rd.buf[:s.rd.end])
			w := httptest.NewRecorder()
			got := h.respondBuffered(w, httptest.NewRequest(tc.method, "/", nil), s, n)
			if got != tc.want {
				t.Fatalf("respondBuffered = %v, want %v", got, tc.want)
			}
			h.pool.mu.Lock()
			busy := s.p.busy
			h.pool.mu.Unlock()
			if !got {
				if s.rd.start != start || s.rd.end != endAt || !bytes.Equal(s.rd.buf[:s.rd.end], before) {
					t.Fatal("the reader moved or its buffer changed")
				}
				if busy != 1 || w.Body.Len() > 0 || len(w.Header()) > 0 {
					t.Fatalf("answered anyway: busy %d, %d body bytes, header %v", busy, w.Body.Len(), w.Header())
				}
				return
			}
			if busy != 0 || s.rd.start != s.rd.end {
				t.Fatalf("busy %d, %d bytes left unread", busy, s.rd.end-s.rd.start)
			}
			res := w.Result()
			if res.StatusCode != http.StatusOK || w.Body.String() != tc.body || res.Header.Get("Content-Length") != tc.cl {
				t.Fatalf("%d %q, Content-Length %q; want 200 %q, %q", res.StatusCode, w.Body.String(), res.Header.Get("Content-Length"), tc.body, tc.cl)
			}
		})
	}
}

// Served by arbiter's own HTTP/1.1 writer (a cgivars.WholeWriter), a whole
// response goes out without a header map: the app's fields in the app's
// order, names canonical, hop-by-hop ones dropped with Connection: close
// honoured, a HEAD keeping the app's length, a 204 without one.
func TestWholeResponseInAppOrder(t *testing.T) {
	a := startApp(t, "conformance", nil)
	serve := func(method, path string) (string, bool) {
		r := httptest.NewRequest(method, path, nil)
		var out bytes.Buffer
		rw := cgivars.NewOriginWriter(&out, r, cgivars.Origin{KeepAlive: true})
		a.h.ServeHTTP(rw, r)
		if err := rw.Finish(); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return out.String(), rw.KeepAlive()
	}
	got, keep := serve("GET", "/order")
	head, body, _ := strings.Cut(got, "\r\n\r\n")
	fields := strings.Split(head, "\r\n")
	want := []string{"HTTP/1.1 200 OK", "X-Z: 1", "X-A: 2", "Content-Type: text/plain", "Set-Cookie: a=1", "Set-Cookie: b=2", "Content-Length: 9"}
	if len(fields) != len(want)+1 || !slices.Equal(fields[:len(want)], want) || !strings.HasPrefix(fields[len(want)], "Date: ") || body != "in order\n" || !keep {
		t.Errorf("/order: %q (keep-alive %v), want the fields %q, a Date and the body", got, keep, want)
	}
	if got, keep := serve("GET", "/hop"); keep || strings.Contains(got, "Keep-Alive") || !strings.Contains(got, "\r\nConnection: close\r\n") {
		t.Errorf("/hop: %q (keep-alive %v), want Connection: close and no Keep-Alive", got, keep)
	}
	if got, _ := serve("HEAD", "/head"); !strings.Contains(got, "\r\nContent-Length: 6\r\n") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("HEAD /head: %q, want the app's Content-Length and no body", got)
	}
	if got, _ := serve("GET", "/204"); !strings.HasPrefix(got, "HTTP/1.1 204 No Content\r\n") || strings.Contains(got, "Content-Length") {
		t.Errorf("/204: %q, want no Content-Length", got)
	}
}
