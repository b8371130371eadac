package cgivars

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// nginxEnv is what nginx 1.22 sends for "GET /a/b?x=1" with fastcgi_params.
func nginxEnv() map[string]string {
	return map[string]string{
		"QUERY_STRING":      "x=1",
		"REQUEST_METHOD":    "GET",
		"CONTENT_TYPE":      "",
		"CONTENT_LENGTH":    "",
		"SCRIPT_NAME":       "/a/b",
		"REQUEST_URI":       "/a/b?x=1",
		"DOCUMENT_URI":      "/a/b",
		"DOCUMENT_ROOT":     "/srv",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"REQUEST_SCHEME":    "http",
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE":   "nginx/1.22.1",
		"REMOTE_ADDR":       "127.0.0.1",
		"REMOTE_PORT":       "45000",
		"SERVER_ADDR":       "127.0.0.1",
		"SERVER_PORT":       "8080",
		"SERVER_NAME":       "localhost",
		"REDIRECT_STATUS":   "200",
		"HTTP_HOST":         "example.com:8080",
		"HTTP_USER_AGENT":   "curl/7.88.1",
		"HTTP_ACCEPT":       "*/*",
	}
}

// with returns nginxEnv changed by kv pairs; a value "<del>" deletes the key.
func with(kv ...string) map[string]string {
	env := nginxEnv()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "<del>" {
			delete(env, kv[i])
		} else {
			env[kv[i]] = kv[i+1]
		}
	}
	return env
}

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, r *http.Request)
	}{
		{"nginx GET", nginxEnv(), func(t *testing.T, r *http.Request) {
			eq(t, "Method", r.Method, "GET")
			eq(t, "RequestURI", r.RequestURI, "/a/b?x=1")
			eq(t, "URL", r.URL.String(), "http://example.com:8080/a/b?x=1")
			eq(t, "URL.Path", r.URL.Path, "/a/b")
			eq(t, "Proto", r.Proto, "HTTP/1.1")
			eq(t, "ProtoMinor", r.ProtoMinor, 1)
			eq(t, "Host", r.Host, "example.com:8080")
			eq(t, "RemoteAddr", r.RemoteAddr, "127.0.0.1:45000")
			eq(t, "ContentLength", r.ContentLength, int64(-1))
			eq(t, "TLS", r.TLS == nil, true)
			want := http.Header{"User-Agent": {"curl/7.88.1"}, "Accept": {"*/*"}}
			if !reflect.DeepEqual(r.Header, want) {
				t.Errorf("Header = %v, want %v", r.Header, want)
			}
		}},
		{"GET with CONTENT_LENGTH 0 has NoBody", with("CONTENT_LENGTH", "0"), func(t *testing.T, r *http.Request) {
			eq(t, "ContentLength", r.ContentLength, int64(0))
			eq(t, "Body", r.Body, io.ReadCloser(http.NoBody))
			eq(t, "Content-Length", r.Header.Get("Content-Length"), "0")
		}},
		{"POST with length and type", with("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "5", "CONTENT_TYPE", "text/plain"), func(t *testing.T, r *http.Request) {
			eq(t, "ContentLength", r.ContentLength, int64(5))
			eq(t, "Content-Length", r.Header.Get("Content-Length"), "5")
			eq(t, "Content-Type", r.Header.Get("Content-Type"), "text/plain")
			eq(t, "body", readAll(t, r), "hello")
		}},
		{"CONTENT_LENGTH absent streams", with("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "<del>"), func(t *testing.T, r *http.Request) {
			eq(t, "ContentLength", r.ContentLength, int64(-1))
			eq(t, "body", readAll(t, r), "hello")
			eq(t, "Content-Length", r.Header.Get("Content-Length"), "")
		}},
		{"CONTENT_LENGTH -1 streams (Caddy)", with("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "-1"), func(t *testing.T, r *http.Request) {
			eq(t, "ContentLength", r.ContentLength, int64(-1))
			eq(t, "Content-Length", r.Header.Get("Content-Length"), "")
		}},
		{"chunked client, streamed body", with("REQUEST_METHOD", "POST", "HTTP_TRANSFER_ENCODING", "chunked"), func(t *testing.T, r *http.Request) {
			eq(t, "TransferEncoding", strings.Join(r.TransferEncoding, ","), "chunked")
			eq(t, "Transfer-Encoding header", r.Header.Get("Transfer-Encoding"), "")
		}},
		{"chunked client, buffered body", with("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "5", "HTTP_TRANSFER_ENCODING", "chunked"), func(t *testing.T, r *http.Request) {
			eq(t, "TransferEncoding", len(r.TransferEncoding), 0)
			eq(t, "Transfer-Encoding header", r.Header.Get("Transfer-Encoding"), "")
		}},
		{"URI from SCRIPT_NAME, PATH_INFO, QUERY_STRING", with("REQUEST_URI", "<del>", "SCRIPT_NAME", "/app", "PATH_INFO", "/x y/100%?#", "QUERY_STRING", "a=b"), func(t *testing.T, r *http.Request) {
			eq(t, "RequestURI", r.RequestURI, "/app/x%20y/100%25%3F%23?a=b")
			eq(t, "URL.Path", r.URL.Path, "/app/x y/100%?#")
			eq(t, "URL.RawQuery", r.URL.RawQuery, "a=b")
		}},
		{"URI fallback without anything is /", with("REQUEST_URI", "", "SCRIPT_NAME", "<del>", "QUERY_STRING", ""), func(t *testing.T, r *http.Request) {
			eq(t, "RequestURI", r.RequestURI, "/")
		}},
		{"path starting with // is a path", with("REQUEST_URI", "//evil.example/x"), func(t *testing.T, r *http.Request) {
			eq(t, "URL.Path", r.URL.Path, "//evil.example/x")
			eq(t, "URL.Host", r.URL.Host, "example.com:8080")
		}},
		{"absolute-form URI keeps its host", with("REQUEST_URI", "http://other.example/p"), func(t *testing.T, r *http.Request) {
			eq(t, "URL.Host", r.URL.Host, "other.example")
			eq(t, "Host", r.Host, "example.com:8080")
		}},
		{"OPTIONS *", with("REQUEST_METHOD", "OPTIONS", "REQUEST_URI", "*"), func(t *testing.T, r *http.Request) {
			eq(t, "URL.Path", r.URL.Path, "*")
		}},
		{"CONNECT authority", with("REQUEST_METHOD", "CONNECT", "REQUEST_URI", "db.example:5432"), func(t *testing.T, r *http.Request) {
			eq(t, "URL.Host", r.URL.Host, "db.example:5432")
			eq(t, "URL.Scheme", r.URL.Scheme, "")
		}},
		{"Host from SERVER_NAME and port", with("HTTP_HOST", "<del>", "SERVER_NAME", "srv", "SERVER_PORT", "8443"), func(t *testing.T, r *http.Request) {
			eq(t, "Host", r.Host, "srv:8443")
			eq(t, "URL", r.URL.String(), "http://srv:8443/a/b?x=1")
		}},
		{"Host from SERVER_NAME, default port", with("HTTP_HOST", "", "SERVER_NAME", "srv", "SERVER_PORT", "80"), func(t *testing.T, r *http.Request) {
			eq(t, "Host", r.Host, "srv")
		}},
		{"Host from SERVER_NAME, https default port", with("HTTP_HOST", "<del>", "SERVER_NAME", "srv", "SERVER_PORT", "443", "HTTPS", "on"), func(t *testing.T, r *http.Request) {
			eq(t, "Host", r.Host, "srv")
			eq(t, "URL", r.URL.String(), "https://srv/a/b?x=1")
		}},
		{"Host from IPv6 SERVER_NAME", with("HTTP_HOST", "<del>", "SERVER_NAME", "::1", "SERVER_PORT", "8080"), func(t *testing.T, r *http.Request) {
			eq(t, "Host", r.Host, "[::1]:8080")
		}},
		{"no Host at all leaves URL relative", with("HTTP_HOST", "<del>", "SERVER_NAME", "<del>"), func(t *testing.T, r *http.Request) {
			eq(t, "Host", r.Host, "")
			eq(t, "URL", r.URL.String(), "/a/b?x=1")
		}},
		{"HTTPS on", with("HTTPS", "on"), func(t *testing.T, r *http.Request) {
			eq(t, "TLS", r.TLS != nil && r.TLS.HandshakeComplete, true)
			eq(t, "URL.Scheme", r.URL.Scheme, "https")
		}},
		{"HTTPS ON", with("HTTPS", "ON"), func(t *testing.T, r *http.Request) { eq(t, "TLS", r.TLS != nil, true) }},
		{"HTTPS On", with("HTTPS", "On"), func(t *testing.T, r *http.Request) { eq(t, "TLS", r.TLS != nil, true) }},
		{"HTTPS 1", with("HTTPS", "1"), func(t *testing.T, r *http.Request) { eq(t, "TLS", r.TLS != nil, true) }},
		{"HTTPS off", with("HTTPS", "off"), func(t *testing.T, r *http.Request) { eq(t, "TLS", r.TLS == nil, true) }},
		{"HTTPS empty", with("HTTPS", ""), func(t *testing.T, r *http.Request) { eq(t, "TLS", r.TLS == nil, true) }},
		{"HTTP/1.0", with("SERVER_PROTOCOL", "HTTP/1.0"), func(t *testing.T, r *http.Request) {
			eq(t, "Proto", [2]int{r.ProtoMajor, r.ProtoMinor}, [2]int{1, 0})
		}},
		{"HTTP/2.0 from nginx", with("SERVER_PROTOCOL", "HTTP/2.0"), func(t *testing.T, r *http.Request) {
			eq(t, "ProtoMajor", r.ProtoMajor, 2)
		}},
		{"HTTP/2 from Caddy", with("SERVER_PROTOCOL", "HTTP/2"), func(t *testing.T, r *http.Request) {
			eq(t, "ProtoMajor", r.ProtoMajor, 2)
		}},
		{"SERVER_PROTOCOL absent", with("SERVER_PROTOCOL", "<del>"), func(t *testing.T, r *http.Request) {
			eq(t, "Proto", r.Proto, "HTTP/1.0")
		}},
		{"header mapping", with("HTTP_X_FORWARDED_FOR", "1.2.3.4", "HTTP_COOKIE", "a=b; c=d", "HTTP_x_lower", "v", "HTTP_CONTENT_TYPE", "spoof", "HTTP_CONTENT_LENGTH", "99", "HTTP_PROXY", "p"), func(t *testing.T, r *http.Request) {
			eq(t, "X-Forwarded-For", r.Header.Get("X-Forwarded-For"), "1.2.3.4")
			eq(t, "Cookie", r.Header.Get("Cookie"), "a=b; c=d")
			eq(t, "X-Lower", r.Header.Get("X-Lower"), "v")
			eq(t, "Content-Type", r.Header.Get("Content-Type"), "")
			eq(t, "Content-Length", r.Header.Get("Content-Length"), "")
			eq(t, "Proxy", r.Header.Get("Proxy"), "p")
			eq(t, "Host in Header", r.Header.Get("Host"), "")
		}},
		{"non-token header names skipped", with("HTTP_X FOO", "1", "HTTP_", "2", "HTTP_X:Y", "3", "HTTP_X\x00", "4"), func(t *testing.T, r *http.Request) {
			eq(t, "headers", len(r.Header), 2)
		}},
		{"IPv6 RemoteAddr", with("REMOTE_ADDR", "2001:db8::1", "REMOTE_PORT", "443"), func(t *testing.T, r *http.Request) {
			eq(t, "RemoteAddr", r.RemoteAddr, "[2001:db8::1]:443")
		}},
		{"RemoteAddr without port", with("REMOTE_PORT", "<del>"), func(t *testing.T, r *http.Request) {
			eq(t, "RemoteAddr", r.RemoteAddr, "127.0.0.1:0")
		}},
		{"RemoteAddr with a bad port", with("REMOTE_PORT", "99999"), func(t *testing.T, r *http.Request) {
			eq(t, "RemoteAddr", r.RemoteAddr, "127.0.0.1:0")
		}},
		{"byte-swapped port from the uWSGI router is kept", with("REMOTE_PORT", "51375"), func(t *testing.T, r *http.Request) {
			eq(t, "RemoteAddr", r.RemoteAddr, "127.0.0.1:51375")
		}},
		{"unix socket peer", with("REMOTE_ADDR", "unix:", "REMOTE_PORT", ""), func(t *testing.T, r *http.Request) {
			eq(t, "RemoteAddr", r.RemoteAddr, "unix:")
		}},
		{"no REMOTE_ADDR", with("REMOTE_ADDR", "<del>"), func(t *testing.T, r *http.Request) {
			eq(t, "RemoteAddr", r.RemoteAddr, "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRequest(context.Background(), tt.env, strings.NewReader("hello"))
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			tt.check(t, r)
		})
	}
}

func TestNewRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no method", with("REQUEST_METHOD", "<del>"), "no REQUEST_METHOD"},
		{"empty method", with("REQUEST_METHOD", ""), "no REQUEST_METHOD"},
		{"method not a token", with("REQUEST_METHOD", "GE T"), "invalid REQUEST_METHOD"},
		{"bad protocol", with("SERVER_PROTOCOL", "FOO"), "invalid SERVER_PROTOCOL"},
		{"HTTP/0.9", with("SERVER_PROTOCOL", "HTTP/0.9"), "invalid SERVER_PROTOCOL"},
		{"CONTENT_LENGTH letters", with("CONTENT_LENGTH", "abc"), "invalid CONTENT_LENGTH"},
		{"CONTENT_LENGTH negative", with("CONTENT_LENGTH", "-5"), "invalid CONTENT_LENGTH"},
		{"CONTENT_LENGTH plus sign", with("CONTENT_LENGTH", "+5"), "invalid CONTENT_LENGTH"},
		{"CONTENT_LENGTH space", with("CONTENT_LENGTH", " 5"), "invalid CONTENT_LENGTH"},
		{"CONTENT_LENGTH overflow", with("CONTENT_LENGTH", "9223372036854775808"), "invalid CONTENT_LENGTH"},
		{"CONTENT_LENGTH 20 digits", with("CONTENT_LENGTH", "12345678901234567890"), "invalid CONTENT_LENGTH"},
		{"header value with LF", with("HTTP_X_A", "a\nX-Injected: 1"), "invalid value in HTTP_X_A"},
		{"header value with NUL", with("HTTP_X_A", "a\x00"), "invalid value in HTTP_X_A"},
		{"CONTENT_TYPE with CR", with("CONTENT_TYPE", "text/plain\r"), "invalid CONTENT_TYPE"},
		{"Host with LF", with("HTTP_HOST", "a\nb"), "invalid HTTP_HOST"},
		{"unparsable URI", with("REQUEST_URI", "no-slash"), "invalid request URI"},
		{"URI with a bad escape", with("REQUEST_URI", "/%zz"), "invalid request URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRequest(context.Background(), tt.env, nil)
			if err == nil {
				t.Fatalf("NewRequest succeeded: %v %v", r.Method, r.URL)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("error %v does not wrap ErrBadRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestNewRequestContextAndEnv(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	env := nginxEnv()
	r, err := NewRequest(ctx, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := Env(r); got == nil || got["DOCUMENT_ROOT"] != "/srv" {
		t.Errorf("Env(r) = %v", got)
	}
	if r.Body != http.NoBody {
		t.Errorf("nil body gave %T, want http.NoBody", r.Body)
	}
	select {
	case <-r.Context().Done():
		t.Fatal("context done before cancel")
	default:
	}
	cancel()
	<-r.Context().Done()
	if Env(httpNewRequest(t)) != nil {
		t.Error("Env of a request not built by NewRequest is not nil")
	}
}

func httpNewRequest(t *testing.T) *http.Request {
	r, err := http.NewRequest("GET", "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseDigits(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"007", 7, true}, {"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false}, {"", 0, false}, {"-1", 0, false}, {"1e3", 0, false},
		{"١", 0, false}, {"12 ", 0, false},
	}
	for _, tt := range tests {
		n, ok := ParseDigits(tt.in)
		if n != tt.want || ok != tt.ok {
			t.Errorf("ParseDigits(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.want, tt.ok)
		}
	}
}

func readAll(t *testing.T, r *http.Request) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// FuzzNewRequest checks that NewRequest never panics on what a front end
// may send, and that an accepted request is coherent.
func FuzzNewRequest(f *testing.F) {
	f.Add("GET", "/a/b?x=1", "", "HTTP/1.1", "example.com", "127.0.0.1", "45000", "X_FOO", "bar", "on")
	f.Add("POST", "", "5", "HTTP/1.0", "", "::1", "", "CONTENT_TYPE", "x", "")
	f.Add("CONNECT", "db:5432", "-1", "HTTP/2.0", "h:1", "unix:", "x", "", "\r\n", "1")
	f.Fuzz(func(t *testing.T, method, uri, clen, proto, host, raddr, rport, hname, hval, https string) {
		env := map[string]string{
			"REQUEST_METHOD": method, "REQUEST_URI": uri, "CONTENT_LENGTH": clen, "SERVER_PROTOCOL": proto,
			"HTTP_HOST": host, "REMOTE_ADDR": raddr, "REMOTE_PORT": rport, "HTTP_" + hname: hval, "HTTPS": https,
			"SCRIPT_NAME": "/s", "PATH_INFO": uri, "QUERY_STRING": hval,
		}
		r, err := NewRequest(context.Background(), env, strings.NewReader("body"))
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		if r.Method != method || r.URL == nil || r.Body == nil || r.Header.Get("Host") != "" || r.ProtoMajor < 1 {
			t.Fatalf("incoherent request %+v", r)
		}
		if (r.ContentLength == 0) != (r.Body == http.NoBody) || r.ContentLength < -1 {
			t.Fatalf("ContentLength %d with Body %T", r.ContentLength, r.Body)
		}
		for k, vv := range r.Header {
			if !IsToken(k) {
				t.Fatalf("header name %q", k)
			}
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header value %q", v)
				}
			}
		}
		if (r.TLS != nil) != isOn(https) || Env(r)["REQUEST_METHOD"] != method {
			t.Fatalf("TLS %v for HTTPS=%q", r.TLS, https)
		}
	})
}
