package cgi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// noRedirects is a client that returns redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// printScript is a script that writes out exactly (printf %b escapes, so
// "\r", "\0" and "\n" can be written) and then runs tail.
func printScript(out, tail string) string {
	return "#!/bin/sh\nprintf '%b' '" + strings.ReplaceAll(out, "'", `'\''`) + "'\n" + tail + "\n"
}

// TestOutput covers RFC 3875 §6 and the hostile output cases (the CGI
// cases 25–28 and 33 of research/protocols.md §6), served over HTTP.
func TestOutput(t *testing.T) {
	tests := []struct {
		name    string
		out     string // what the script prints
		tail    string // shell after the print
		method  string
		status  int
		header  map[string]string // "" means must be absent
		body    string
		reason  string // a "cgi invalid output" log line must have this reason
		exitLog string // a "cgi exit" log line must have this exit
	}{
		{name: "document", out: `Content-Type: text/plain\n\nhello\n`, status: 200,
			header: map[string]string{"Content-Type": "text/plain"}, body: "hello\n"},
		{name: "crlf", out: `Content-Type: text/plain\r\nX-A: 1\r\n\r\nhi`, status: 200,
			header: map[string]string{"X-A": "1"}, body: "hi"},
		{name: "status and reason", out: `Status: 404 Not Here\nContent-Type: text/plain\n\nnope`, status: 404, body: "nope"},
		{name: "status alone", out: `Status: 204\n\n`, status: 204, body: ""},
		{name: "status 599", out: `Status: 599 Odd\nContent-Type: text/plain\n\n`, status: 599},
		{name: "value whitespace trimmed", out: "Content-Type:\t text/html \t\n\n<p>", status: 200,
			header: map[string]string{"Content-Type": "text/html"}, body: "<p>"},
		{name: "repeated fields", out: `Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\n\n`, status: 200},
		{name: "hop-by-hop dropped", out: `Content-Type: text/plain\nConnection: close, X-Secret\nX-Secret: 1\nKeep-Alive: timeout=5\nUpgrade: h2c\nX-Kept: yes\n\nbody`,
			status: 200, header: map[string]string{"Connection": "", "X-Secret": "", "Keep-Alive": "", "Upgrade": "", "X-Kept": "yes"}, body: "body"},
		{name: "script chunked body decoded", out: `Content-Type: text/plain\nTransfer-Encoding: chunked\nContent-Length: 99\n\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
			status: 200, body: "hello world"},
		{name: "content-length kept", out: `Content-Type: text/plain\nContent-Length: 5\n\nhello`, tail: "sleep 0.2", status: 200,
			header: map[string]string{"Content-Length": "5"}, body: "hello"},
		{name: "body longer than its content-length", out: `Content-Type: text/plain\nContent-Length: 3\n\nhello`, status: 200, body: "hel"},
		{name: "client redirect", out: `Location: https://example.com/x?y\n\n`, status: 302,
			header: map[string]string{"Location": "https://example.com/x?y"}},
		{name: "client redirect with document", out: `Status: 301 Moved\nLocation: https://example.com/\nContent-Type: text/html\n\n<a href=https://example.com/>moved</a>`,
			status: 301, header: map[string]string{"Location": "https://example.com/", "Content-Type": "text/html"}, body: "<a href=https://example.com/>moved</a>"},
		{name: "redirect status with a path", out: `Status: 303 See Other\nLocation: /elsewhere\n\n`, status: 303,
			header: map[string]string{"Location": "/elsewhere"}},
		{name: "HEAD drops the body", method: "HEAD", out: `Content-Type: text/plain\n\n` + strings.Repeat("x", 100000), status: 200, body: ""},
		{name: "exit 1 after a whole response", out: `Content-Type: text/plain\n\nok`, tail: "exit 1", status: 200, body: "ok", exitLog: "1"},
		{name: "stdin ignored, slow exit", out: `Content-Type: text/plain\n\n`, tail: "sleep 0.1; echo late", status: 200, body: "late\n"},

		{name: "no output", out: ``, status: 502, reason: "no output"},
		{name: "no output, exit 3", out: ``, tail: "exit 3", status: 502, reason: "no output", exitLog: "3"},
		{name: "body only", out: `hello world\n`, status: 502, reason: "header line without a colon"},
		{name: "no blank line", out: `Content-Type: text/plain\n`, status: 502, reason: "output ended before the blank line"},
		{name: "no CGI field", out: `X-Only: 1\n\nbody`, status: 502, reason: "no Content-Type, Location or Status"},
		{name: "status 099", out: `Status: 099 Low\n\n`, status: 502, reason: "invalid Status"},
		{name: "status -12", out: `Status: -12\n\n`, status: 502, reason: "invalid Status"},
		{name: "status 1xx", out: `Status: 103 Early Hints\n\n`, status: 502, reason: "invalid Status"},
		{name: "status 600", out: `Status: 600\n\n`, status: 502, reason: "invalid Status"},
		{name: "status abc", out: `Status: abc\n\n`, status: 502, reason: "invalid Status"},
		{name: "status empty", out: `Status:\n\n`, status: 502, reason: "invalid Status"},
		{name: "status 2000", out: `Status: 2000\n\n`, status: 502, reason: "invalid Status"},
		{name: "status twice", out: `Status: 200\nStatus: 404\n\n`, status: 502, reason: "Status given twice"},
		{name: "content-type twice", out: `Content-Type: a/b\nContent-Type: c/d\n\n`, status: 502, reason: "Content-Type given twice"},
		{name: "location twice", out: `Location: /a\nLocation: /b\n\n`, status: 502, reason: "Location given twice"},
		{name: "bare CR", out: `Content-Type: text/plain\rX-Injected: 1\n\n`, status: 502, reason: "bare CR"},
		{name: "NUL in a value", out: `Content-Type: text/pl\0ain\n\n`, status: 502, reason: "NUL"},
		{name: "control character", out: `Content-Type: text/plain\nX-A: a\033b\n\n`, status: 502, reason: "control character"},
		{name: "obs-fold", out: `Content-Type: text/plain\nX-A: a\n b\n\n`, status: 502, reason: "continuation line"},
		{name: "space before colon", out: `Content-Type : text/plain\n\n`, status: 502, reason: "invalid header name"},
		{name: "empty name", out: `: x\nContent-Type: text/plain\n\n`, status: 502, reason: "invalid header name"},
		{name: "HTTP status line", out: `HTTP/1.1 200 OK\nContent-Type: text/plain\n\n`, status: 502, reason: "header line without a colon"},
		{name: "line too long", out: `Content-Type: text/plain\nX-Long: ` + strings.Repeat("a", 17000) + `\n\n`, status: 502, reason: "header line longer than"},
		{name: "block too long", out: `Content-Type: text/plain\n` + strings.Repeat("X-Many: "+strings.Repeat("b", 1000)+`\n`, 70) + `\n`, status: 502, reason: "header block longer than"},
		{name: "too many fields", out: `Content-Type: text/plain\n` + strings.Repeat(`X-F: 1\n`, 300) + `\n`, status: 502, reason: "more than 256 header fields"},
		{name: "bad content-length", out: `Content-Type: text/plain\nContent-Length: 5x\n\nhello`, status: 502, reason: "invalid Content-Length"},
		{name: "other transfer coding", out: `Content-Type: text/plain\nTransfer-Encoding: gzip\n\nhello`, status: 502, reason: "Transfer-Encoding"},
		{name: "relative location", out: `Location: elsewhere\n\n`, status: 502, reason: "Location is neither"},
		{name: "empty location", out: `Location:\nContent-Type: text/plain\n\n`, status: 502, reason: "empty Location"},
		{name: "invalid output and a script that keeps writing", out: `garbage\n`, tail: "while :; do echo more; done", status: 502, reason: "header line without a colon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Config{}, map[string]string{"out.sh": printScript(tt.out, tt.tail)})
			srv := f.serve()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			req, _ := http.NewRequest(method, srv.URL+"/out.sh", nil)
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			if tt.status != 502 && string(body) != tt.body {
				t.Errorf("body %q, want %q", truncate(body), truncate([]byte(tt.body)))
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.name == "repeated fields" && len(resp.Header.Values("Set-Cookie")) != 2 {
				t.Errorf("Set-Cookie %q, want two", resp.Header.Values("Set-Cookie"))
			}
			if tt.status == 502 {
				if string(body) != "Bad Gateway\n" {
					t.Errorf("502 body %q", body)
				}
				e := f.waitLog("cgi invalid output", nil)
				if r, _ := e["reason"].(string); !strings.Contains(r, tt.reason) {
					t.Errorf("logged reason %q, want it to contain %q", r, tt.reason)
				}
				if e["script"] != f.root+"/out.sh" {
					t.Errorf("logged script %v", e["script"])
				}
			}
			if tt.exitLog != "" {
				f.waitLog("cgi exit", func(e map[string]any) bool { return e["exit"] == tt.exitLog && e["level"] == "warn" })
			}
		})
	}
}

func TestLocalRedirect(t *testing.T) {
	f := newFixture(t, Config{Prefix: "/cgi-bin"}, map[string]string{
		"a.sh":    printScript(`Location: /cgi-bin/b.sh/pi?x=1\n\nthis body is dropped`, ""),
		"b.sh":    "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s %s %s %s %s %s' \"$REQUEST_METHOD\" \"$SCRIPT_NAME\" \"$PATH_INFO\" \"$QUERY_STRING\" \"$REDIRECT_URL\" \"${CONTENT_LENGTH-none}\"\n",
		"loop.sh": printScript(`Location: /cgi-bin/loop.sh\n\n`, ""),
		"gone.sh": printScript(`Location: /cgi-bin/missing.sh\n\n`, ""),
	})
	srv := f.serve()
	resp, err := http.Post(srv.URL+"/cgi-bin/a.sh?orig", "text/plain", strings.NewReader("posted"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "GET /cgi-bin/b.sh /pi x=1 /cgi-bin/a.sh?orig none" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}

	resp, err = http.Get(srv.URL + "/cgi-bin/loop.sh")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("redirect loop: status %d, want 502", resp.StatusCode)
	}
	f.waitLog("cgi invalid output", func(e map[string]any) bool {
		return strings.Contains(e["reason"].(string), "local redirects")
	})

	resp, err = http.Get(srv.URL + "/cgi-bin/gone.sh")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("redirect to a missing script: status %d, want 404", resp.StatusCode)
	}
}

// TestLocalRedirectFrontEnd: a redirected request does not reuse the front
// end's SCRIPT_FILENAME, SCRIPT_NAME or PATH_INFO, but keeps its other
// variables.
func TestLocalRedirectFrontEnd(t *testing.T) {
	f := newFixture(t, Config{}, map[string]string{
		"a.sh":   printScript(`Location: /env.sh/x\n\n`, ""),
		"env.sh": envScript,
	})
	v := nginxVars("/srv/www", "/a.sh")
	v["SCRIPT_FILENAME"] = f.root + "/a.sh"
	v["PATH_INFO"] = "/from-front"
	w := f.do(frontRequest(t, v, ""))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	env := parseEnv(w.Body.String())
	for k, want := range map[string]string{
		"SCRIPT_FILENAME": f.root + "/env.sh", "SCRIPT_NAME": "/env.sh", "PATH_INFO": "/x",
		"REQUEST_URI": "/env.sh/x", "REDIRECT_URL": "/a.sh", "SERVER_SOFTWARE": "nginx/1.22.1",
		"DOCUMENT_URI": "", "REMOTE_ADDR": "10.0.0.9",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}
