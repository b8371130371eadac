package accessfmt

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func entry() *Entry {
	r := httptest.NewRequest("GET", "/a%20b/c?x=1&y=2", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("Referer", "https://example.com/")
	r.Header.Set("User-Agent", "curl/7.88.1")
	r.Header.Set("X-Evil", "a\"b\\c\nd\x01\x7fé")
	r.SetBasicAuth("alice", "secret")
	h := http.Header{}
	h.Set("Content-Type", "text/plain")
	return &Entry{
		Req: r, RespHeader: h, Status: 201, Bytes: 1234,
		Time:     time.Date(2026, 12, 6, 22, 11, 23, 456e6, time.FixedZone("", 3600)),
		Duration: 1234567 * time.Microsecond, Worker: 3, PID: 4242, Listener: "http",
	}
}

func TestAtoms(t *testing.T) {
	tests := []struct{ format, want string }{
		{"%(h)s", "192.0.2.7"},
		{"%(l)s", "-"},
		{"%(u)s", "alice"},
		{"%(t)s", "[06/Dec/2026:22:11:23 +0100]"},
		{"%(r)s", "GET /a%20b/c?x=1&y=2 HTTP/1.1"},
		{"%(s)s", "201"},
		{"%(m)s", "GET"},
		{"%(U)s", "/a b/c"},
		{"%(q)s", "x=1&y=2"},
		{"%(H)s", "HTTP/1.1"},
		{"%(b)s", "1234"},
		{"%(B)s", "1234"},
		{"%(f)s", "https://example.com/"},
		{"%(a)s", "curl/7.88.1"},
		{"%(T)s", "1"},
		{"%(D)s", "1234567"},
		{"%(M)s", "1234"},
		{"%(L)s", "1.234567"},
		{"%(p)s", "<4242>"},
		{"%(w)s", "3"},
		{"%({user-agent}i)s", "curl/7.88.1"},
		{"%({Content-Type}o)s", "text/plain"},
		{"%({X-Missing}i)s %({X-Missing}o)s", "- -"},
		{"%({X-Evil}i)s", `a\"b\\c\x0ad\x01\x7fé`},
		{"100%% %(s)s", "100% 201"},
		{"", ""},
		{"common", `192.0.2.7 - alice [06/Dec/2026:22:11:23 +0100] "GET /a%20b/c?x=1&y=2 HTTP/1.1" 201 1234`},
		{"combined", `192.0.2.7 - alice [06/Dec/2026:22:11:23 +0100] "GET /a%20b/c?x=1&y=2 HTTP/1.1" 201 1234 "https://example.com/" "curl/7.88.1"`},
	}
	for _, tt := range tests {
		f, err := Compile(tt.format)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.format, err)
			continue
		}
		if got := string(f.Append(nil, entry())); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.format, got, tt.want)
		}
	}

	// Edges: no user, no referer, a unix socket peer, an IPv6 peer, a short
	// duration.
	e := entry()
	e.Req.Header.Del("Authorization")
	e.Req.Header.Del("Referer")
	e.Req.RemoteAddr = "@"
	e.Duration = 7 * time.Microsecond
	f, _ := Compile(`%(h)s %(u)s "%(f)s" %(L)s %(T)s`)
	if got, want := string(f.Append(nil, e)), `@ - "-" 0.000007 0`; got != want {
		t.Errorf("edges: got %q, want %q", got, want)
	}
	e.Req.RemoteAddr = "[2001:db8::1]:443"
	if got := string(f.Append(nil, e)); got[:11] != "2001:db8::1" {
		t.Errorf("IPv6 peer: %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		format string
		offset int
		msg    string
	}{
		{"%(x)s", 0, "unknown atom %(x)s"},
		{"ok %(h", 3, `unbalanced "%(": no ")" after it`},
		{"%(h)d", 0, `%(h) must be followed by "s": %(h)s`},
		{"%(h)", 0, `%(h) must be followed by "s"`},
		{"50%", 2, `a lone "%"`},
		{"%s", 0, `a lone "%"`},
		{"%({Host}x)s", 0, "a header is %({Name}i)s"},
		{"%({}i)s", 0, "a header is"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.format)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Compile(%q) = %v, want offset %d and %q", tt.format, err, tt.offset, tt.msg)
		}
	}
}

func TestJSON(t *testing.T) {
	f, err := Compile("json")
	if err != nil || !f.IsJSON() {
		t.Fatal(err)
	}
	e := entry()
	e.Req.Header.Set("User-Agent", "bad\xffutf8 \"q\" \x00")
	line := f.Append(nil, e)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := map[string]any{
		"time": "2026-12-06T21:11:23.456Z", "remote": "192.0.2.7", "method": "GET",
		"uri": "/a%20b/c?x=1&y=2", "proto": "HTTP/1.1", "status": 201.0, "bytes": 1234.0,
		"duration_us": 1234567.0, "referer": "https://example.com/", "user_agent": "bad\ufffdutf8 \"q\" \x00",
		"worker": 3.0, "pid": 4242.0, "listener": "http",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// BenchmarkAppend formats the combined preset with %(D)s and the json preset
// into a reused buffer: 0 allocs/op.
func BenchmarkAppend(b *testing.B) {
	for _, format := range []string{Combined + " %(D)s %(w)s", "json"} {
		f, err := Compile(format)
		if err != nil {
			b.Fatal(err)
		}
		e := entry()
		e.Req.Header.Del("Authorization") // %(u)s would decode it
		buf := make([]byte, 0, 512)
		b.Run(map[bool]string{true: "json", false: "combined"}[format == "json"], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = f.Append(buf[:0], e)
			}
		})
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	for _, format := range []string{Combined + ` %(D)s %(L)s %(p)s %(w)s %({Content-Type}o)s`, "json"} {
		f, _ := Compile(format)
		e := entry()
		e.Req.Header.Del("Authorization")
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(100, func() { buf = f.Append(buf[:0], e) }); n != 0 {
			t.Errorf("%q: %v allocations per line", format, n)
		}
	}
}
