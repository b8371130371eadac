package cgi

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// envScript prints its environment as a plain-text document.
const envScript = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nexec env\n"

const absent = "\x00absent"

func TestMetaVariablesHTTP(t *testing.T) {
	t.Setenv("ARBITER_CGI_TEST_SECRET", "s3cret")
	t.Setenv("ARBITER_CGI_TEST_PASSED", "yes")
	tests := []struct {
		name  string
		cfg   Config
		req   func(f *fixture) *http.Request
		want  map[string]string // absent: must not be set
		check func(t *testing.T, f *fixture, env map[string]string)
	}{
		{
			name: "GET with path info and query",
			req: func(f *fixture) *http.Request {
				r := httptest.NewRequest("GET", "http://example.com:8080/cgi-bin/env.sh/a%20b/c?x=1&y=%2F", nil)
				r.RemoteAddr = "192.0.2.7:40001"
				return withLocalAddr(r, "127.0.0.1:8081")
			},
			cfg: Config{Prefix: "/cgi-bin/"},
			want: map[string]string{
				"GATEWAY_INTERFACE": "CGI/1.1",
				"SERVER_SOFTWARE":   "arbiter",
				"SERVER_PROTOCOL":   "HTTP/1.1",
				"REQUEST_METHOD":    "GET",
				"REQUEST_URI":       "http://example.com:8080/cgi-bin/env.sh/a%20b/c?x=1&y=%2F",
				"QUERY_STRING":      "x=1&y=%2F",
				"SCRIPT_NAME":       "/cgi-bin/env.sh",
				"PATH_INFO":         "/a b/c",
				"SERVER_NAME":       "example.com",
				"SERVER_PORT":       "8081",
				"SERVER_ADDR":       "127.0.0.1",
				"REMOTE_ADDR":       "192.0.2.7",
				"REMOTE_PORT":       "40001",
				"REMOTE_HOST":       "192.0.2.7",
				"REQUEST_SCHEME":    "http",
				"HTTP_HOST":         "example.com:8080",
				"HTTPS":             absent,
				"CONTENT_LENGTH":    absent,
				"CONTENT_TYPE":      absent,
				"AUTH_TYPE":         absent,
				"REMOTE_USER":       absent,
			},
			check: func(t *testing.T, f *fixture, env map[string]string) {
				if got, want := env["SCRIPT_FILENAME"], f.root+"/env.sh"; got != want {
					t.Errorf("SCRIPT_FILENAME = %q, want %q", got, want)
				}
				if got, want := env["DOCUMENT_ROOT"], f.root; got != want {
					t.Errorf("DOCUMENT_ROOT = %q, want %q", got, want)
				}
				if got, want := env["PATH_TRANSLATED"], f.root+"/a b/c"; got != want {
					t.Errorf("PATH_TRANSLATED = %q, want %q", got, want)
				}
			},
		},
		{
			name: "no path info, no Host, IPv6",
			req: func(f *fixture) *http.Request {
				r := httptest.NewRequest("GET", "/env.sh", nil)
				r.Host = ""
				r.Proto, r.ProtoMinor = "HTTP/1.0", 0
				r.RemoteAddr = "[2001:db8::1]:5000"
				return withLocalAddr(r, "[::1]:9000")
			},
			want: map[string]string{
				"SCRIPT_NAME":     "/env.sh",
				"PATH_INFO":       "",
				"PATH_TRANSLATED": absent,
				"QUERY_STRING":    "",
				"SERVER_PROTOCOL": "HTTP/1.0",
				"SERVER_NAME":     "[::1]",
				"SERVER_PORT":     "9000",
				"SERVER_ADDR":     "::1",
				"REMOTE_ADDR":     "2001:db8::1",
				"REMOTE_PORT":     "5000",
				"HTTP_HOST":       absent,
			},
		},
		{
			name: "POST body and TLS",
			req: func(f *fixture) *http.Request {
				r := httptest.NewRequest("POST", "https://shop.example/env.sh", strings.NewReader("a=1&b=2"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.TLS = &tls.ConnectionState{HandshakeComplete: true}
				return r
			},
			want: map[string]string{
				"REQUEST_METHOD":      "POST",
				"CONTENT_LENGTH":      "7",
				"CONTENT_TYPE":        "application/x-www-form-urlencoded",
				"HTTP_CONTENT_TYPE":   absent,
				"HTTP_CONTENT_LENGTH": absent,
				"HTTPS":               "on",
				"REQUEST_SCHEME":      "https",
				"SERVER_NAME":         "shop.example",
				"SERVER_PORT":         "443",
			},
		},
		{
			name: "empty POST declares a body of 0",
			req: func(f *fixture) *http.Request {
				r := httptest.NewRequest("POST", "/env.sh", http.NoBody)
				r.Header.Set("Content-Length", "0")
				return r
			},
			want: map[string]string{"CONTENT_LENGTH": "0"},
		},
		{
			name: "header filtering",
			req: func(f *fixture) *http.Request {
				r := httptest.NewRequest("GET", "/env.sh", nil)
				r.Header.Set("X-Foo", "dash")
				r.Header["X_Foo"] = []string{"underscore"}
				r.Header["X_Under"] = []string{"only-underscore"}
				r.Header["X.Dot"] = []string{"dot"}
				r.Header.Set("Proxy", "http://evil.example:3128")
				r.Header.Set("Authorization", "Basic dTpw")
				r.Header.Set("Proxy-Authorization", "Basic dTpw")
				r.Header.Add("Accept", "text/html")
				r.Header.Add("Accept", "text/plain")
				r.Header.Add("Cookie", "a=1")
				r.Header.Add("Cookie", "b=2")
				r.Header.Set("Connection", "keep-alive")
				return r
			},
			want: map[string]string{
				"HTTP_X_FOO":               "dash",
				"HTTP_X_UNDER":             absent,
				"HTTP_X.DOT":               absent,
				"HTTP_PROXY":               absent,
				"HTTP_AUTHORIZATION":       absent,
				"HTTP_PROXY_AUTHORIZATION": absent,
				"HTTP_ACCEPT":              "text/html, text/plain",
				"HTTP_COOKIE":              "a=1; b=2",
			},
		},
		{
			name: "pass_authorization",
			cfg:  Config{PassAuthorization: true},
			req: func(f *fixture) *http.Request {
				r := httptest.NewRequest("GET", "/env.sh", nil)
				r.Header.Set("Authorization", "Basic dTpw")
				r.Header.Set("Proxy-Authorization", "Basic dTpw")
				r.Header.Set("Proxy", "http://evil.example:3128")
				return r
			},
			want: map[string]string{
				"HTTP_AUTHORIZATION":       "Basic dTpw",
				"HTTP_PROXY_AUTHORIZATION": absent,
				"HTTP_PROXY":               absent,
				"AUTH_TYPE":                absent,
			},
		},
		{
			name: "worker environment",
			cfg:  Config{PassEnv: []string{"ARBITER_CGI_TEST_PASSED", "ARBITER_CGI_TEST_UNSET"}},
			req:  func(f *fixture) *http.Request { return httptest.NewRequest("GET", "/env.sh", nil) },
			want: map[string]string{
				"ARBITER_CGI_TEST_PASSED": "yes",
				"ARBITER_CGI_TEST_SECRET": absent,
				"ARBITER_CGI_TEST_UNSET":  absent,
				"PATH":                    DefaultPath,
			},
		},
		{
			name: "default pass_env is PATH",
			req:  func(f *fixture) *http.Request { return httptest.NewRequest("GET", "/env.sh", nil) },
			want: map[string]string{"ARBITER_CGI_TEST_SECRET": absent, "ARBITER_CGI_TEST_PASSED": absent},
			check: func(t *testing.T, f *fixture, env map[string]string) {
				if env["PATH"] == "" || env["PATH"] != os.Getenv("PATH") {
					t.Errorf("PATH = %q, want the worker's", env["PATH"])
				}
			},
		},
		{
			name: "one script mounted under a prefix",
			cfg:  Config{Script: "env.sh", Prefix: "/app"},
			req:  func(f *fixture) *http.Request { return httptest.NewRequest("GET", "/app/x/y?q", nil) },
			want: map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/x/y", "QUERY_STRING": "q"},
			check: func(t *testing.T, f *fixture, env map[string]string) {
				if env["DOCUMENT_ROOT"] != f.root || env["PATH_TRANSLATED"] != f.root+"/x/y" {
					t.Errorf("DOCUMENT_ROOT %q, PATH_TRANSLATED %q", env["DOCUMENT_ROOT"], env["PATH_TRANSLATED"])
				}
			},
		},
		{
			name: "one script at /",
			cfg:  Config{Script: "env.sh"},
			req:  func(f *fixture) *http.Request { return httptest.NewRequest("GET", "/", nil) },
			want: map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/", "SERVER_SOFTWARE": "arbiter"},
		},
		{
			name: "server software",
			cfg:  Config{ServerSoftware: "arbiter/1.2.3"},
			req:  func(f *fixture) *http.Request { return httptest.NewRequest("GET", "/env.sh", nil) },
			want: map[string]string{"SERVER_SOFTWARE": "arbiter/1.2.3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg, map[string]string{"env.sh": envScript})
			w := f.do(tt.req(f))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			env := parseEnv(w.Body.String())
			for k, want := range tt.want {
				got, ok := env[k]
				switch {
				case want == absent && ok:
					t.Errorf("%s = %q, want it unset", k, got)
				case want != absent && !ok:
					t.Errorf("%s unset, want %q", k, want)
				case want != absent && got != want:
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.check != nil {
				tt.check(t, f, env)
			}
		})
	}
}

// frontRequest builds a request as the FastCGI, SCGI and uwsgi servers do.
func frontRequest(t *testing.T, env map[string]string, body string) *http.Request {
	t.Helper()
	var b io.Reader
	if body != "" {
		b = strings.NewReader(body)
	}
	r, err := cgivars.NewRequest(context.Background(), env, b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// nginxVars are the variables nginx's fastcgi_params send, for root.
func nginxVars(root, uri string) map[string]string {
	path, query, _ := strings.Cut(uri, "?")
	return map[string]string{
		"QUERY_STRING": query, "REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
		"SCRIPT_NAME": path, "REQUEST_URI": uri, "DOCUMENT_URI": path, "DOCUMENT_ROOT": root,
		"SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE": "nginx/1.22.1", "REMOTE_ADDR": "10.0.0.9", "REMOTE_PORT": "51000",
		"SERVER_ADDR": "10.0.0.1", "SERVER_PORT": "80", "SERVER_NAME": "www.example",
		"REDIRECT_STATUS": "200", "HTTP_HOST": "www.example", "HTTP_USER_AGENT": "curl/7.88",
	}
}

// refused is nginx's variables for "/x" with SCRIPT_FILENAME set to path(f),
// for the SCRIPT_FILENAMEs that must not run.
func refused(path func(f *fixture) string) func(f *fixture) map[string]string {
	return func(f *fixture) map[string]string {
		v := nginxVars("/", "/x")
		v["SCRIPT_FILENAME"] = path(f)
		return v
	}
}

func TestMetaVariablesFrontEnd(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		vars   func(f *fixture) map[string]string
		body   string
		status int
		want   map[string]string
	}{
		{
			name: "SCRIPT_FILENAME inside the root, variables passed on",
			vars: func(f *fixture) map[string]string {
				v := nginxVars("/srv/www", "/cgi-bin/env.sh?a=b")
				v["SCRIPT_FILENAME"] = f.root + "/env.sh"
				v["PATH_INFO"] = "/extra"
				v["FOO_PARAM"] = "from fastcgi_param"
				v["HTTP_PROXY"] = "http://evil.example:3128"
				v["HTTP_AUTHORIZATION"] = "Basic dTpw"
				v["HTTP_X_UNDER"] = "kept: nginx mapped it"
				return v
			},
			status: 200,
			want: map[string]string{
				"SCRIPT_NAME":        "/cgi-bin/env.sh",
				"PATH_INFO":          "/extra",
				"PATH_TRANSLATED":    absent,
				"DOCUMENT_ROOT":      "/srv/www",
				"DOCUMENT_URI":       "/cgi-bin/env.sh",
				"SERVER_SOFTWARE":    "nginx/1.22.1",
				"SERVER_ADDR":        "10.0.0.1",
				"REMOTE_PORT":        "51000",
				"REMOTE_HOST":        "10.0.0.9",
				"REDIRECT_STATUS":    "200",
				"FOO_PARAM":          "from fastcgi_param",
				"HTTP_PROXY":         absent,
				"HTTP_AUTHORIZATION": absent,
				"HTTP_X_UNDER":       "kept: nginx mapped it",
				"CONTENT_LENGTH":     absent,
				"CONTENT_TYPE":       "",
				"QUERY_STRING":       "a=b",
			},
		},
		{
			name: "body of unknown length is spooled",
			vars: func(f *fixture) map[string]string {
				v := nginxVars("/srv/www", "/env.sh")
				v["REQUEST_METHOD"] = "POST"
				v["SCRIPT_FILENAME"] = f.root + "/env.sh"
				v["HTTP_TRANSFER_ENCODING"] = "chunked"
				return v
			},
			body:   "0123456789",
			status: 200,
			want:   map[string]string{"CONTENT_LENGTH": "10", "HTTP_TRANSFER_ENCODING": absent},
		},
		{
			name: "no SCRIPT_FILENAME: the front end's SCRIPT_NAME is walked",
			cfg:  Config{Prefix: "/cgi-bin"},
			vars: func(f *fixture) map[string]string {
				v := nginxVars("/srv/www", "/cgi-bin/env.sh/more")
				return v
			},
			status: 200,
			want:   map[string]string{"SCRIPT_NAME": "/cgi-bin/env.sh", "PATH_INFO": "/more"},
		},
		{
			name: "one script keeps the front end's SCRIPT_NAME",
			cfg:  Config{Script: "env.sh", Prefix: "/app"},
			vars: func(f *fixture) map[string]string {
				v := nginxVars("/srv/www", "/anything/here")
				v["SCRIPT_FILENAME"] = "/etc/passwd" // ignored: Script decides
				return v
			},
			status: 200,
			want:   map[string]string{"SCRIPT_NAME": "/anything/here", "PATH_INFO": absent},
		},
		{
			name:   "SCRIPT_FILENAME outside the root",
			vars:   refused(func(f *fixture) string { return "/bin/sh" }),
			status: 404,
		},
		{
			name:   "SCRIPT_FILENAME escaping with ..",
			vars:   refused(func(f *fixture) string { return f.root + "/../../bin/sh" }),
			status: 404,
		},
		{
			name:   "SCRIPT_FILENAME in a sibling with the root as prefix",
			vars:   refused(func(f *fixture) string { return f.root + "-evil/env.sh" }),
			status: 404,
		},
		{
			name:   "SCRIPT_FILENAME relative",
			vars:   refused(func(f *fixture) string { return "env.sh" }),
			status: 404,
		},
		{
			name:   "SCRIPT_FILENAME with path info appended",
			vars:   refused(func(f *fixture) string { return f.root + "/env.sh/extra" }),
			status: 404,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg, map[string]string{"env.sh": envScript})
			w := f.do(frontRequest(t, tt.vars(f), tt.body))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			env := parseEnv(w.Body.String())
			for k, want := range tt.want {
				got, ok := env[k]
				switch {
				case want == absent && ok:
					t.Errorf("%s = %q, want it unset", k, got)
				case want != absent && !ok:
					t.Errorf("%s unset, want %q", k, want)
				case want != absent && got != want:
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.status == 200 && env["SCRIPT_FILENAME"] != f.root+"/env.sh" {
				t.Errorf("SCRIPT_FILENAME = %q", env["SCRIPT_FILENAME"])
			}
		})
	}
}

// TestEnvironmentTooLarge: a header bigger than exec allows for one string
// (128 KiB) is 431, not a failure the client cannot read.
func TestEnvironmentTooLarge(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{"env.sh": envScript})
	r := httptest.NewRequest("GET", "/env.sh", nil)
	r.Header.Set("X-Big", strings.Repeat("x", 200<<10))
	if w := f.do(r); w.Code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", w.Code)
	}
	f.waitLog("cgi start failed", nil)
}
