package cgivars

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wholeCase is one response for WriteWhole and for the header map's way.
type wholeCase struct {
	style  int // 0 StatusHeader, 1 StatusLine, 2.. Direct: see writer
	method string
	code   int
	fields []string
	body   []byte
}

func (c wholeCase) String() string {
	return fmt.Sprintf("style %d %s %d %q body of %d bytes", c.style, c.method, c.code, c.fields, len(c.body))
}

// clip shortens a response for a failure message.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// writer makes the ResponseWriter of c's style: Direct for HTTP/1.1 kept
// alive, HTTP/1.0 kept alive, one to close, and one whose Hold refuses.
func (c wholeCase) writer(out *bytes.Buffer) *ResponseWriter {
	req := httptest.NewRequest(c.method, "/", nil)
	switch c.style {
	case 0:
		return NewResponseWriter(out, StatusHeader, req)
	case 1:
		return NewResponseWriter(out, StatusLine, req)
	case 2:
		return NewOriginWriter(out, req, Origin{KeepAlive: true})
	case 3:
		return NewOriginWriter(out, req, Origin{HTTP10: true, KeepAlive: true})
	case 4:
		return NewOriginWriter(out, req, Origin{})
	default:
		return NewOriginWriter(out, req, Origin{KeepAlive: true, Hold: func() bool { return false }})
	}
}

const wholeStyles = 6

// viaMap sends c the usual way, as the WSGI handler does when WriteWhole
// declines: the fields into Header() (Connection set, not added), a
// Content-Length where WriteWhole would add one, WriteHeader, Write and
// Finish.
func viaMap(c wholeCase) (out string, n int, keep bool, err error) {
	var buf bytes.Buffer
	rw := c.writer(&buf)
	declared := false
	for i := 0; i+1 < len(c.fields); i += 2 {
		if c.fields[i] == "Connection" {
			rw.Header().Set(c.fields[i], c.fields[i+1])
			continue
		}
		declared = declared || c.fields[i] == "Content-Length"
		rw.Header().Add(c.fields[i], c.fields[i+1])
	}
	allowed := c.code != 204 && c.code != 304
	if !declared && allowed && (len(c.body) > 0 || c.method != "HEAD") {
		rw.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
	}
	rw.WriteHeader(c.code)
	if len(c.body) > 0 {
		n, _ = rw.Write(c.body)
	}
	err = rw.Finish()
	return buf.String(), n, rw.KeepAlive(), err
}

// viaWhole sends c with WriteWhole.
func viaWhole(c wholeCase) (out string, n int, ok, keep bool, err error) {
	var buf bytes.Buffer
	rw := c.writer(&buf)
	n, ok, err = rw.WriteWhole(c.code, c.fields, c.body)
	if ok {
		if err2 := rw.Finish(); err2 != err {
			return "", 0, ok, false, err2
		}
	}
	return buf.String(), n, ok, rw.KeepAlive(), err
}

// sameResponse compares two responses whose header fields may come in
// another order: the status line, the fields as a multiset, the body. The
// Date arbiter adds may be a second apart between the two.
func sameResponse(a, b string, date string) bool {
	ha, ba, _ := strings.Cut(a, "\r\n\r\n")
	hb, bb, _ := strings.Cut(b, "\r\n\r\n")
	la, lb := strings.Split(ha, "\r\n"), strings.Split(hb, "\r\n")
	if la[0] != lb[0] || ba != bb {
		return false
	}
	for _, l := range [][]string{la, lb} {
		for i, f := range l {
			if strings.HasPrefix(f, "Date: ") && f != "Date: "+date {
				l[i] = "Date: (added)"
			}
		}
	}
	slices.Sort(la[1:])
	slices.Sort(lb[1:])
	return slices.Equal(la, lb)
}

// checkWhole checks that WriteWhole sends what the header map's way does,
// or declines exactly where it says it does.
func checkWhole(t *testing.T, c wholeCase) {
	t.Helper()
	want, wantN, wantKeep, wantErr := viaMap(c)
	got, n, ok, keep, err := viaWhole(c)
	declined := slices.Contains(c.fields, "Trailer")
	for i := 0; i+1 < len(c.fields); i += 2 {
		if c.fields[i] == "Content-Length" && c.code != 204 && c.code != 304 && c.method != "HEAD" && c.fields[i+1] != strconv.Itoa(len(c.body)) {
			declined = true
		}
	}
	if !ok {
		if !declined || got != "" {
			t.Fatalf("%s: declined (wrote %q)", c, clip(got))
		}
		return
	}
	if declined {
		t.Fatalf("%s: took what it must decline", c)
	}
	date := ""
	for i := 0; i+1 < len(c.fields); i += 2 {
		if c.fields[i] == "Date" {
			date = strings.TrimSpace(c.fields[i+1])
		}
	}
	if !sameResponse(got, want, date) || n != wantN || keep != wantKeep || (err == nil) != (wantErr == nil) {
		t.Fatalf("%s:\nWriteWhole %q n=%d keep=%v err=%v\nheader map %q n=%d keep=%v err=%v", c, clip(got), n, keep, err, clip(want), wantN, wantKeep, wantErr)
	}
}

// Every style, method, status and a spread of fields and bodies: WriteWhole
// sends the response the header map's way sends, field order aside.
func TestWriteWholeSameAsHeaderMap(t *testing.T) {
	html := []byte("<!DOCTYPE html><p>" + strings.Repeat("x", 10<<10))
	fieldSets := [][]string{
		nil,
		{"Content-Type", "text/plain"},
		{"Content-Type", "text/plain", "Content-Length", "5"},
		{"Content-Length", "3"}, // not the body's length: declined where a body goes out
		{"Connection", "close", "X-A", "1"},
		{"Date", "Mon, 07 Dec 2026 00:00:00 GMT"},
		{"Set-Cookie", "a=1", "Set-Cookie", "b=2", "X-Spaces", "  padded  "},
		{"Status", "500", "Transfer-Encoding", "chunked", "X-B", "2"},
		{"Trailer", "X-T"},
	}
	bodies := [][]byte{nil, []byte("hello"), html}
	for style := range wholeStyles {
		for _, method := range []string{"GET", "HEAD"} {
			for _, code := range []int{200, 204, 299, 304, 404, 999} {
				for _, fields := range fieldSets {
					for _, body := range bodies {
						checkWhole(t, wholeCase{style, method, code, fields, body})
					}
				}
			}
		}
	}
}

// The exact bytes of the common case: the app's fields in its order, then
// the length, the sniffed type, the Date and the framing.
func TestWriteWholeOrder(t *testing.T) {
	var buf bytes.Buffer
	rw := NewOriginWriter(&buf, httptest.NewRequest("GET", "/", nil), Origin{KeepAlive: false})
	n, ok, err := rw.WriteWhole(201, []string{"X-Z", "1", "X-A", "2"}, []byte("hi"))
	if !ok || err != nil || n != 2 {
		t.Fatalf("n=%d ok=%v err=%v", n, ok, err)
	}
	want := "HTTP/1.1 201 Created\r\nX-Z: 1\r\nX-A: 2\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDate: " + httpDate() + "\r\nConnection: close\r\n\r\nhi"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
	if _, err := rw.Write([]byte("x")); err != ErrFinished {
		t.Fatalf("a write after WriteWhole: %v, want ErrFinished", err)
	}
}

// A writer already used declines, and leaves the response to the usual
// way: a middleware's Connection: close in Header(), a status written.
func TestWriteWholeDeclinesUsedWriter(t *testing.T) {
	for name, use := range map[string]func(*ResponseWriter){
		"header set":    func(rw *ResponseWriter) { rw.Header().Set("Connection", "close") },
		"status":        func(rw *ResponseWriter) { rw.WriteHeader(200) },
		"body written":  func(rw *ResponseWriter) { rw.Write([]byte("x")) },
		"finished":      func(rw *ResponseWriter) { rw.Finish() },
		"interim first": func(rw *ResponseWriter) { rw.WriteHeader(103); rw.Header().Set("Link", "</a>") },
	} {
		var buf bytes.Buffer
		rw := NewOriginWriter(&buf, httptest.NewRequest("GET", "/", nil), Origin{KeepAlive: true})
		use(rw)
		before := buf.String()
		if _, ok, _ := rw.WriteWhole(200, []string{"X-A", "1"}, []byte("body")); ok || buf.String() != before {
			t.Errorf("%s: ok=%v, wrote %q", name, ok, strings.TrimPrefix(buf.String(), before))
		}
	}
}

// A failed write is WriteWhole's error, as it would be Finish's.
func TestWriteWholeWriteError(t *testing.T) {
	rw := NewOriginWriter(&recorder{failAt: 1}, httptest.NewRequest("GET", "/", nil), Origin{KeepAlive: true})
	if _, ok, err := rw.WriteWhole(200, nil, []byte("x")); !ok || err == nil || rw.KeepAlive() {
		t.Fatalf("ok=%v err=%v keep=%v, want the write's error and no keep-alive", ok, err, rw.KeepAlive())
	}
}

// FuzzWriteWhole checks WriteWhole against the header map's way for any
// style, method, status, fields and body. The fields are the input's
// NUL-separated names and values, kept as the WSGI handler would pass
// them: canonical tokens, field values, one Content-Length of digits.
func FuzzWriteWhole(f *testing.F) {
	f.Add(byte(2), true, uint16(200), "Content-Type\x00text/plain", []byte("hello"))
	f.Add(byte(3), false, uint16(204), "Content-Length\x007\x00Connection\x00close", []byte("x"))
	f.Add(byte(0), true, uint16(304), "Status\x00200\x00X-A\x00 b ", []byte(nil))
	f.Add(byte(5), false, uint16(599), "Date\x00today\x00Set-Cookie\x00a\x00Set-Cookie\x00b", []byte("<html>"))
	f.Fuzz(func(t *testing.T, style byte, head bool, code uint16, rawFields string, body []byte) {
		c := wholeCase{style: int(style) % wholeStyles, method: "GET", code: 200 + int(code)%800, body: body}
		if head {
			c.method = "HEAD"
		}
		parts := strings.Split(rawFields, "\x00")
		seenCL := false
		for i := 0; i+1 < len(parts); i += 2 {
			name, value := http.CanonicalHeaderKey(parts[i]), parts[i+1]
			if !IsToken(name) || !IsFieldValue(value) {
				continue
			}
			if name == "Content-Length" {
				if _, ok := ParseDigits(value); !ok || seenCL {
					continue
				}
				seenCL = true
			}
			c.fields = append(c.fields, name, value)
		}
		checkWhole(t, c)
	})
}
