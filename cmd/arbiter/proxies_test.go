package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/haproxytest"
	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// rawHTTP sends one GET of path with extra header lines over a new
// connection to addr, after prefix (a PROXY header, or nothing), and returns the
// response and the connection's local address (the client as the kernel
// sees it).
func rawHTTP(t *testing.T, addr, prefix, path string, headers ...string) (*http.Response, string, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	req := prefix + "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, c.LocalAddr().String(), body
}

func echoReply(t *testing.T, resp *http.Response, body []byte) echo.Reply {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var r echo.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return r
}

// With haproxy in front sending a PROXY header (v1 and v2), the app sees
// the address of haproxy's client, not haproxy's own.
func TestPROXYProtocolBehindHaproxy(t *testing.T) {
	haproxytest.Require(t)
	f := start(t, `workers = 1
[[listen]]
address = "{{addr}}"
proxy_protocol = true
[app]
type = "echo"
`)
	for _, opt := range []string{"send-proxy", "send-proxy-v2"} {
		t.Run(opt, func(t *testing.T) {
			h := haproxytest.Start(t, f.addr, opt)
			resp, client, body := rawHTTP(t, h.Addr, "", "/who")
			if got := echoReply(t, resp, body).RemoteAddr; got != client {
				t.Fatalf("the app saw %q, want haproxy's client %q", got, client)
			}
		})
	}
	// Straight to the listener, without a header: closed, and logged with
	// the peer and the reason.
	mark := f.srv.Count()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("got %d bytes of a response to a request without a PROXY header", n)
	}
	e, _ := f.srv.WaitEvent(mark, 10*time.Second, "the bad-peer log line", func(e proctest.Event) bool {
		return e.Msg() == "bad input from peer" && e["peer"] == c.LocalAddr().String()
	})
	if s, _ := e["error"].(string); !strings.Contains(s, `none (the connection starts with "GET / HTTP/1.1\r\n")`) {
		t.Errorf("logged reason %q", s)
	}
}

// A FastCGI listener with proxy_protocol serves through haproxy; the
// request's REMOTE_ADDR is still the one the front end sends.
func TestPROXYProtocolFastCGIBehindHaproxy(t *testing.T) {
	haproxytest.Require(t)
	f := start(t, `workers = 1
[[listen]]
address = "{{addr}}"
protocol = "fastcgi"
proxy_protocol = true
[app]
type = "echo"
`)
	h := haproxytest.Start(t, f.addr, "send-proxy-v2")
	out, err := rawGet("fastcgi", h.Addr, "/who", 20*time.Second)
	if err != nil || !strings.Contains(out, `"remote_addr":"127.0.0.1:0"`) {
		t.Fatalf("through haproxy: %v\n%s", err, out)
	}
	if out, err := rawGet("fastcgi", f.addr, "/who", 20*time.Second); err == nil {
		t.Fatalf("a FastCGI request without a PROXY header was answered:\n%s", out)
	}
}

// A listener without proxy_protocol treats a PROXY header as the bad
// request it is: 400 over HTTP, the connection closed unanswered (and a
// bad-peer log line) over FastCGI, SCGI and uwsgi.
func TestPROXYHeaderOnPlainListenerIsABadRequest(t *testing.T) {
	others := map[string]string{}
	conf := "workers = 1\n[[listen]]\naddress = \"{{addr}}\"\n"
	for _, p := range []string{"fastcgi", "scgi", "uwsgi"} {
		others[p] = proctest.FreeAddr(t)
		conf += fmt.Sprintf("[[listen]]\naddress = %q\nprotocol = %q\n", others[p], p)
	}
	f := start(t, conf+"[app]\ntype = \"echo\"\n")
	v2 := "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x7f\x00\x00\x01\x12\x67\x00\x50"
	for _, prefix := range []string{"PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n", v2} {
		resp, _, body := rawHTTP(t, f.addr, prefix, "/who")
		if resp.StatusCode != 400 {
			t.Errorf("%q: status %d, want 400: %s", prefix[:8], resp.StatusCode, body)
		}
		for p, addr := range others {
			mark := f.srv.Count()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, prefix)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil || len(got) > 0 {
				t.Errorf("%s, %q: read %q, %v; want the connection closed unanswered", p, prefix[:8], got, err)
			}
			f.srv.WaitEvent(mark, 10*time.Second, p+" bad-peer log line", func(e proctest.Event) bool {
				return e.Msg() == "bad input from peer" && e["peer"] == c.LocalAddr().String()
			})
		}
	}
}

// X-Forwarded-For and Forwarded set the client address only from a trusted
// peer: the default trusts loopback, where this test's client is.
func TestForwardedHeadersFromTrustedPeerOnly(t *testing.T) {
	conf := `workers = 1
%s
[[listen]]
address = "{{addr}}"
[app]
type = "echo"
`
	trusted := start(t, fmt.Sprintf(conf, "[log]\naccess_log = \"-\""))
	resp, _, body := rawHTTP(t, trusted.addr, "", "/who", "X-Forwarded-For: 1.1.1.1, 203.0.113.7", "X-Forwarded-Proto: https")
	if r := echoReply(t, resp, body); r.RemoteAddr != "203.0.113.7" || r.Scheme != "https" {
		t.Errorf("trusted peer: remote %q scheme %q, want 203.0.113.7 https", r.RemoteAddr, r.Scheme)
	}
	trusted.srv.WaitEvent(0, 10*time.Second, "the access log line with the client's address", func(e proctest.Event) bool {
		return e["log"] == "access" && e["remote"] == "203.0.113.7"
	})
	resp, _, body = rawHTTP(t, trusted.addr, "", "/who", `Forwarded: for="[2001:db8::7]:4711";proto=https`)
	if r := echoReply(t, resp, body); r.RemoteAddr != "[2001:db8::7]:4711" || r.Scheme != "https" {
		t.Errorf("trusted peer, Forwarded: remote %q scheme %q", r.RemoteAddr, r.Scheme)
	}

	untrusted := start(t, fmt.Sprintf(conf, `forwarded_allow_ips = ["10.0.0.0/8"]`))
	resp, client, body := rawHTTP(t, untrusted.addr, "", "/who", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https", "Forwarded: for=203.0.113.8")
	r := echoReply(t, resp, body)
	if r.RemoteAddr != client || r.Scheme != "http" {
		t.Errorf("untrusted peer: remote %q scheme %q, want %q http", r.RemoteAddr, r.Scheme, client)
	}
	if got := r.Headers["X-Forwarded-For"]; len(got) != 1 || got[0] != "203.0.113.7" {
		t.Errorf("untrusted peer: X-Forwarded-For not passed on as a header: %q", got)
	}
}

// A CGI script and a WSGI app behind a trusted proxy get the client's
// address and scheme in REMOTE_ADDR, REMOTE_PORT, HTTPS and
// wsgi.url_scheme; from an untrusted peer, only HTTP_X_FORWARDED_FOR.
func TestForwardedHeadersReachCGIAndWSGI(t *testing.T) {
	py := wsgiPython(t)
	conf := fmt.Sprintf(`workers = 1
%%s
[[listen]]
address = "{{addr}}"
[app]
type = "echo"
[[mount]]
path = "/c"
type = "cgi"
script = "{{dir}}/env.sh"
[[mount]]
path = "/w"
type = "wsgi"
module = "conformance"
python = %q
pythonpath = [%q]
processes = 1
`, py, wsgiApps(t))
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n" +
		`echo "REMOTE_ADDR=$REMOTE_ADDR REMOTE_PORT=$REMOTE_PORT HTTPS=$HTTPS XFF=$HTTP_X_FORWARDED_FOR"` + "\n"
	for _, tt := range []struct {
		name, allow, header string
		cgi                 string // the script's line, %s = the client's port
		wsgi                map[string]string
	}{
		{"trusted", "", `Forwarded: for="192.0.2.9:4711";proto=https`,
			"REMOTE_ADDR=192.0.2.9 REMOTE_PORT=4711 HTTPS=on XFF=",
			map[string]string{"REMOTE_ADDR": "192.0.2.9", "REMOTE_PORT": "4711", "HTTPS": "on", "wsgi.url_scheme": "https"}},
		{"untrusted", `forwarded_allow_ips = "10.0.0.1"`, "X-Forwarded-For: 192.0.2.9",
			"REMOTE_ADDR=127.0.0.1 REMOTE_PORT=%s HTTPS= XFF=192.0.2.9",
			map[string]string{"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "%s", "HTTPS": "", "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_FOR": "192.0.2.9"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fmt.Sprintf(conf, tt.allow))
			if err := os.WriteFile(filepath.Join(f.dir, "env.sh"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg})
			f.srv.WaitMsg(0, 60*time.Second, "generation ready")

			resp, client, body := rawHTTP(t, f.addr, "", "/c", tt.header)
			_, port, _ := net.SplitHostPort(client)
			if want := strings.ReplaceAll(tt.cgi, "%s", port); strings.TrimSpace(string(body)) != want || resp.StatusCode != 200 {
				t.Errorf("cgi: %d %q, want %q", resp.StatusCode, body, want)
			}
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, port, _ = net.SplitHostPort(c.LocalAddr().String())
			fmt.Fprintf(c, "GET /w/environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n\r\n", tt.header)
			wresp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer wresp.Body.Close()
			var env map[string]any
			if err := json.NewDecoder(wresp.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.wsgi {
				want = strings.ReplaceAll(want, "%s", port)
				got, _ := env[k].(string)
				if got != want {
					t.Errorf("wsgi %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}
