package static

import (
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestETag(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	a := etag(26, t0)
	if !strings.HasPrefix(a, `"`) || !strings.HasSuffix(a, `"`) || len(a) < 3 {
		t.Fatalf("etag %s is not a quoted strong validator", a)
	}
	if etag(26, t0) != a {
		t.Error("etag is not stable")
	}
	if etag(27, t0) == a || etag(26, t0.Add(time.Nanosecond)) == a {
		t.Error("etag ignores the size or a nanosecond of modification time")
	}
}

func TestConditional(t *testing.T) {
	root, _ := fixture(t)
	h := mustNew(t, root, nil)
	tag := `"1a-` + strconv.FormatInt(modTime.UnixNano(), 16) + `"`
	lastMod := modTime.UTC().Format(http.TimeFormat)
	const alphabet = "abcdefghijklmnopqrstuvwxyz"

	w := do(h, "GET", "/alphabet", nil)
	if got := w.Header().Get("ETag"); got != tag {
		t.Fatalf("ETag %s, want %s", got, tag)
	}
	if got := w.Header().Get("Last-Modified"); got != lastMod {
		t.Fatalf("Last-Modified %q, want %q", got, lastMod)
	}
	if got := do(h, "GET", "/", nil).Header().Get("ETag"); got == "" || got == tag {
		t.Fatalf("index ETag %q: missing or equal to another file's", got)
	}

	tests := []struct {
		name   string
		method string
		target string
		header map[string]string
		status int
		body   string
		want   map[string]string
	}{
		{name: "if-none-match", target: "/alphabet", header: map[string]string{"If-None-Match": tag},
			status: 304, want: map[string]string{"ETag": tag}},
		{name: "if-none-match list", target: "/alphabet", header: map[string]string{"If-None-Match": `"x", ` + tag},
			status: 304},
		{name: "if-none-match weak form", target: "/alphabet", header: map[string]string{"If-None-Match": "W/" + tag},
			status: 304},
		{name: "if-none-match star", target: "/alphabet", header: map[string]string{"If-None-Match": "*"},
			status: 304},
		{name: "if-none-match head", method: "HEAD", target: "/alphabet", header: map[string]string{"If-None-Match": tag},
			status: 304},
		{name: "if-none-match other", target: "/alphabet", header: map[string]string{"If-None-Match": `"other"`},
			status: 200, body: alphabet},
		{name: "if-none-match on index", target: "/", header: map[string]string{"If-None-Match": tag},
			status: 200, body: "<html>home</html>"},
		// With an ETag present, a 304 carries it and leaves out Last-Modified (RFC 9110 15.4.5).
		{name: "if-modified-since equal", target: "/alphabet", header: map[string]string{"If-Modified-Since": lastMod},
			status: 304, want: map[string]string{"ETag": tag}},
		{name: "if-modified-since later", target: "/alphabet",
			header: map[string]string{"If-Modified-Since": modTime.Add(time.Hour).Format(http.TimeFormat)}, status: 304},
		{name: "if-modified-since earlier", target: "/alphabet",
			header: map[string]string{"If-Modified-Since": modTime.Add(-time.Hour).Format(http.TimeFormat)},
			status: 200, body: alphabet},
		{name: "if-none-match wins over if-modified-since", target: "/alphabet",
			header: map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": lastMod}, status: 200, body: alphabet},
		{name: "if-match fails", target: "/alphabet", header: map[string]string{"If-Match": `"other"`}, status: 412},
		{name: "if-match passes", target: "/alphabet", header: map[string]string{"If-Match": tag}, status: 200, body: alphabet},

		{name: "range", target: "/alphabet", header: map[string]string{"Range": "bytes=0-4"}, status: 206, body: "abcde",
			want: map[string]string{"Content-Range": "bytes 0-4/26", "Content-Length": "5"}},
		{name: "range open end", target: "/alphabet", header: map[string]string{"Range": "bytes=20-"}, status: 206, body: "uvwxyz",
			want: map[string]string{"Content-Range": "bytes 20-25/26"}},
		{name: "range suffix", target: "/alphabet", header: map[string]string{"Range": "bytes=-3"}, status: 206, body: "xyz",
			want: map[string]string{"Content-Range": "bytes 23-25/26"}},
		{name: "range past end is clipped", target: "/alphabet", header: map[string]string{"Range": "bytes=24-100"}, status: 206, body: "yz"},
		{name: "range head", method: "HEAD", target: "/alphabet", header: map[string]string{"Range": "bytes=0-4"}, status: 206,
			want: map[string]string{"Content-Range": "bytes 0-4/26", "Content-Length": "5"}},
		{name: "range keeps type", target: "/style.css", header: map[string]string{"Range": "bytes=0-3"}, status: 206, body: "body",
			want: map[string]string{"Content-Type": "text/css; charset=utf-8"}},
		{name: "unsatisfiable", target: "/alphabet", header: map[string]string{"Range": "bytes=100-200"}, status: 416,
			want: map[string]string{"Content-Range": "bytes */26"}},
		{name: "malformed range", target: "/alphabet", header: map[string]string{"Range": "bytes=z-"}, status: 416},
		// RFC 9110 14.2: a range unit the server does not understand is ignored (ServeContent alone answers 416).
		{name: "unknown range unit ignored", target: "/alphabet", header: map[string]string{"Range": "lines=1-2"}, status: 200, body: alphabet},
		{name: "unknown range unit ignored on head", method: "HEAD", target: "/alphabet", header: map[string]string{"Range": "items=0-1"}, status: 200,
			want: map[string]string{"Content-Length": "26"}},
		{name: "if-range match", target: "/alphabet", header: map[string]string{"Range": "bytes=0-1", "If-Range": tag}, status: 206, body: "ab"},
		{name: "if-range mismatch sends all", target: "/alphabet", header: map[string]string{"Range": "bytes=0-1", "If-Range": `"old"`},
			status: 200, body: alphabet},
		{name: "if-range date", target: "/alphabet", header: map[string]string{"Range": "bytes=0-1", "If-Range": lastMod}, status: 206, body: "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			w := do(h, method, tt.target, tt.header)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, w.Body.String())
			}
			if (tt.status == 200 || tt.status == 206) && w.Body.String() != tt.body {
				t.Errorf("body %q, want %q", w.Body.String(), tt.body)
			}
			if tt.status == 304 && w.Body.Len() != 0 {
				t.Errorf("304 with body %q", w.Body.String())
			}
			for k, v := range tt.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestMultiRange(t *testing.T) {
	root, _ := fixture(t)
	h := mustNew(t, root, nil)
	w := do(h, "GET", "/alphabet", map[string]string{"Range": "bytes=0-1,10-12,-2"})
	if w.Code != http.StatusPartialContent {
		t.Fatalf("status %d, want 206", w.Code)
	}
	mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q (%v), want multipart/byteranges", w.Header().Get("Content-Type"), err)
	}
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
		t.Errorf("Content-Length %s, body is %d bytes", cl, w.Body.Len())
	}
	want := []struct{ rng, body string }{
		{"bytes 0-1/26", "ab"},
		{"bytes 10-12/26", "klm"},
		{"bytes 24-25/26", "yz"},
	}
	mr := multipart.NewReader(w.Body, params["boundary"])
	for i, wp := range want {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if got := p.Header.Get("Content-Range"); got != wp.rng || string(body) != wp.body {
			t.Errorf("part %d: %q %q, want %q %q", i, got, body, wp.rng, wp.body)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the last part: %v, want EOF", err)
	}
}
