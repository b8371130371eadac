package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/internal/testcert"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

const tlsConfig = `
workers = 1
graceful_timeout = "60s"
log.level = "debug"
[[listen]]
address = "{{addr}}"
tls_cert = "srv.pem"
tls_key = "srv-key.pem"
`

// tlsFixture is start with a CA and a server certificate (CN srv) in the
// fixture's directory, written before the config is loaded.
func tlsFixture(t *testing.T, config string) (*fixture, *testcert.CA) {
	t.Helper()
	f := newFixture(t, config)
	ca, err := testcert.NewCA(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(testcert.Options{CommonName: "srv"}); err != nil {
		t.Fatal(err)
	}
	f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg})
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	return f, ca
}

// curl --http2 negotiates h2 by ALPN and --http1.1 HTTP/1.1; the app sees
// r.TLS either way.
func TestTLSCurlHTTP2(t *testing.T) {
	curl := needTool(t, "curl")
	if out, _ := exec.Command(curl, "-V").Output(); !strings.Contains(string(out), "HTTP2") {
		t.Skip("this curl has no HTTP2 feature")
	}
	f, ca := tlsFixture(t, tlsConfig)
	for _, tt := range []struct{ flag, version, proto string }{
		{"--http2", "2", "HTTP/2.0"},
		{"--http1.1", "1.1", "HTTP/1.1"},
	} {
		out, err := exec.Command(curl, "-sS", tt.flag, "--cacert", ca.CertPEM, "-w", "\n%{http_version}",
			"https://"+f.addr+"/x?y=1").Output()
		if err != nil {
			t.Fatalf("curl %s: %v: %s", tt.flag, err, out)
		}
		o := strings.TrimSpace(string(out))
		i := strings.LastIndexByte(o, '\n')
		body, version := o[:max(i, 0)], o[i+1:]
		var r echo.Reply
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("curl %s: %v: %s", tt.flag, err, out)
		}
		if version != tt.version || r.HTTPVersion != tt.proto || !r.TLS || r.Path != "/x" {
			t.Errorf("curl %s: http_version %q, reply %+v", tt.flag, version, r)
		}
	}
	// Plain HTTP on the TLS port is refused (net/http answers 400), and
	// HTTP/2 without TLS (h2c) is not spoken.
	out, _ := exec.Command(curl, "-sS", "--max-time", "5", "--http2-prior-knowledge", "http://"+f.addr+"/").CombinedOutput()
	if strings.Contains(string(out), `"tls"`) {
		t.Errorf("h2c answered: %s", out)
	}
}

// h2c = true on a plain listener: HTTP/2 with prior knowledge, and
// HTTP/1.1 still.
func TestH2C(t *testing.T) {
	curl := needTool(t, "curl")
	if out, _ := exec.Command(curl, "-V").Output(); !strings.Contains(string(out), "HTTP2") {
		t.Skip("this curl has no HTTP2 feature")
	}
	// Off by default: a plain listener does not answer HTTP/2.
	plain := start(t, basic)
	out, _ := exec.Command(curl, "-sS", "--max-time", "10", "--http2-prior-knowledge", "http://"+plain.addr+"/").CombinedOutput()
	if strings.Contains(string(out), `"http_version":"HTTP/2.0"`) {
		t.Errorf("h2c answered without h2c = true: %s", out)
	}

	f := start(t, basic+"h2c = true\n")
	for flag, want := range map[string]string{"--http2-prior-knowledge": "HTTP/2.0", "--http1.1": "HTTP/1.1"} {
		out, err := exec.Command(curl, "-sS", "--max-time", "10", flag, "http://"+f.addr+"/").Output()
		if err != nil {
			t.Fatalf("curl %s: %v: %s", flag, err, out)
		}
		var r echo.Reply
		if err := json.Unmarshal(out, &r); err != nil || r.HTTPVersion != want || r.TLS {
			t.Errorf("curl %s: %v, %+v", flag, err, r)
		}
	}
}

// openssl s_client offers h2 and gets it, and sees the certificate's subject.
func TestTLSOpenSSLALPN(t *testing.T) {
	openssl := needTool(t, "openssl")
	f, _ := tlsFixture(t, tlsConfig)
	cmd := exec.Command(openssl, "s_client", "-connect", f.addr, "-alpn", "h2,http/1.1", "-servername", "localhost")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "ALPN protocol: h2") {
		t.Errorf("h2 not selected:\n%s", s)
	}
	if !strings.Contains(s, "subject=O = arbiter test, CN = srv") {
		t.Errorf("subject not shown:\n%s", s)
	}
}

// With tls_client_ca, a client without a certificate fails the handshake
// and one with a certificate the CA signed is served.
func TestMTLS(t *testing.T) {
	f, ca := tlsFixture(t, tlsConfig+"tls_client_ca = \"test-ca.pem\"\n")
	get := func(cfg *tls.Config) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		return c.Get("https://" + f.addr + "/")
	}
	mark := f.srv.Count()
	if resp, err := get(&tls.Config{RootCAs: ca.Pool()}); err == nil {
		resp.Body.Close()
		t.Fatalf("served without a client certificate: %s", resp.Status)
	}
	// Under TLS 1.3 the client learns of the refusal after its own
	// handshake is done; the worker says why.
	f.srv.WaitEvent(mark, 10*time.Second, "the refused handshake logged", func(e proctest.Event) bool {
		return strings.Contains(e.Msg(), "TLS handshake error") && strings.Contains(e.Msg(), "client didn't provide a certificate")
	})
	other, err := testcert.NewCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	for name, signer := range map[string]*testcert.CA{"good": ca, "foreign": other} {
		p, err := signer.Issue(testcert.Options{CommonName: "client-" + name, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := get(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{pair}})
		switch {
		case name == "good" && err != nil:
			t.Errorf("client certificate of the CA: %v", err)
		case name == "good":
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Errorf("client certificate of the CA: %s %s", resp.Proto, resp.Status)
			}
			resp.Body.Close()
		case err == nil:
			resp.Body.Close()
			t.Errorf("a certificate of another CA was accepted")
		}
	}
}

// A HUP after the certificate files were replaced: a request in flight on
// the old worker finishes there, new handshakes get the new certificate,
// and an idle HTTP/2 connection to the old worker is ended by its drain
// (GOAWAY) so the client moves on without an error.
func TestTLSCertRotationOnHUP(t *testing.T) {
	f, ca := tlsFixture(t, tlsConfig)
	old := f.waitWorkers(1, 10*time.Second)
	roots := &tls.Config{RootCAs: ca.Pool()}
	h2 := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: roots, ForceAttemptHTTP2: true}}
	getH2 := func() (echo.Reply, *tls.ConnectionState) {
		t.Helper()
		resp, err := h2.Get("https://" + f.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r echo.Reply
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.ProtoMajor != 2 {
			t.Fatalf("h2 GET: %v, %s", err, resp.Proto)
		}
		return r, resp.TLS
	}
	if r, cs := getH2(); r.Generation != 1 || cs.PeerCertificates[0].Subject.CommonName != "srv" {
		t.Fatalf("before the HUP: generation %d, CN %s", r.Generation, cs.PeerCertificates[0].Subject.CommonName)
	}

	// An HTTP/1.1 request whose handler is running (it asked for the
	// body: 100 Continue) when the HUP comes.
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	br.ReadString('\n')

	// New files under the same names, then HUP.
	if _, err := ca.Issue(testcert.Options{CommonName: "srv-rotated"}); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".pem", "-key.pem"} {
		if err := os.Rename(f.dir+"/srv-rotated"+ext, f.dir+"/srv"+ext); err != nil {
			t.Fatal(err)
		}
	}
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGHUP)
	f.srv.WaitEvent(mark, 30*time.Second, "generation 2 ready", func(e proctest.Event) bool {
		return e.Msg() == "generation ready" && e.Int("generation") == 2
	})
	// The old worker starts its drain (it stops accepting) while the
	// request is in flight; a handshake it accepted just before may
	// still show the old certificate, every one after the new.
	f.srv.WaitEvent(mark, 30*time.Second, "the old worker draining", func(e proctest.Event) bool {
		return e.Msg() == "worker stopping" && e.Int("pid") == old[0]
	})
	proctest.Eventually(t, 10*time.Second, "a handshake with the new certificate", func() bool {
		c2, err := tls.Dial("tcp", f.addr, roots)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		return c2.ConnectionState().PeerCertificates[0].Subject.CommonName == "srv-rotated"
	})

	io.WriteString(conn, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight across the HUP: %v", err)
	}
	var r echo.Reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Generation != 1 || r.BodyLength != 5 {
		t.Errorf("in flight across the HUP: %v, generation %d, body %d", err, r.Generation, r.BodyLength)
	}

	// The old worker drains and exits well before graceful_timeout
	// (60s): its idle HTTP/2 connection did not hold it.
	proctest.Eventually(t, 30*time.Second, "the old worker gone", func() bool { return !proctest.Alive(old[0]) })
	if r, cs := getH2(); r.Generation != 2 || cs.PeerCertificates[0].Subject.CommonName != "srv-rotated" {
		t.Errorf("the HTTP/2 client after the HUP: generation %d, CN %s", r.Generation, cs.PeerCertificates[0].Subject.CommonName)
	}
	for _, e := range f.srv.Events()[mark:] {
		if strings.Contains(e.Msg(), "drain cut short") {
			t.Errorf("the drain was cut short: %v", e)
		}
	}
}

// A HUP with a certificate that does not match its key is refused with
// the key's position, and the old generation keeps serving.
func TestTLSHUPBadCertKeepsServing(t *testing.T) {
	f, ca := tlsFixture(t, tlsConfig)
	if _, err := ca.Issue(testcert.Options{CommonName: "stranger"}); err != nil {
		t.Fatal(err)
	}
	f.write(strings.Replace(tlsConfig, "srv-key.pem", "stranger-key.pem", 1))
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGHUP)
	e, _ := f.srv.WaitEvent(mark, 10*time.Second, "reload refused", func(e proctest.Event) bool {
		return strings.HasPrefix(e.Msg(), "reload refused")
	})
	if p := e.Str("problem"); !strings.Contains(p, "app.toml:8:11: listen[0].tls_key:") || !strings.Contains(p, "does not match") {
		t.Errorf("problem = %q", p)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := c.Get("https://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	var r echo.Reply
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if r.Generation != 1 || !r.TLS {
		t.Errorf("after a refused reload: %+v", r)
	}
}

// Over a TLS listener, a CGI script gets HTTPS=on and REQUEST_SCHEME=https
// and a WSGI app wsgi.url_scheme "https" and HTTPS=on.
func TestTLSSchemeForCGIAndWSGI(t *testing.T) {
	python := wsgiPython(t)
	f := newFixture(t, "")
	f.write(fmt.Sprintf(`
workers = 1
[[listen]]
address = "{{addr}}"
tls_cert = "srv.pem"
tls_key = "srv-key.pem"
[app]
type = "cgi"
script = "env.sh"
prefix = "/cgi"
[[mount]]
path = "/py"
type = "wsgi"
module = "schemeapp:application"
python = %q
pythonpath = ["{{dir}}"]
processes = 1
`, python))
	ca, err := testcert.NewCA(f.dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(testcert.Options{CommonName: "srv"}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"env.sh": "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s %s' \"$HTTPS\" \"$REQUEST_SCHEME\"\n",
		"schemeapp.py": "def application(environ, start_response):\n" +
			"    start_response('200 OK', [('Content-Type', 'text/plain')])\n" +
			"    return [('%s %s' % (environ['wsgi.url_scheme'], environ.get('HTTPS', ''))).encode()]\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(f.dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg})
	f.srv.WaitMsg(0, 60*time.Second, "generation ready")
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}}
	for path, want := range map[string]string{"/cgi": "on https", "/py/": "https on"} {
		resp, err := c.Get("https://" + f.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want || resp.ProtoMajor != 2 {
			t.Errorf("%s: %s %s %q, want %q over HTTP/2", path, resp.Proto, resp.Status, body, want)
		}
	}
}

// gatedBody is a request body whose first Read tells started and then
// waits for release: under Expect: 100-continue the client reads it only
// once the server's handler asked for the body.
type gatedBody struct {
	started, release chan struct{}
	done             bool
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	close(b.started)
	<-b.release
	b.done = true
	return copy(p, "hello"), io.EOF
}

// An HTTP/2 stream in flight when its worker starts to drain is answered by
// that worker; the client's next request goes to the new worker over a new
// connection (the old one got GOAWAY) without an error.
func TestH2DrainFinishesStreams(t *testing.T) {
	f, ca := tlsFixture(t, tlsConfig)
	old := f.waitWorkers(1, 10*time.Second)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true,
		ExpectContinueTimeout: time.Minute}
	c := &http.Client{Timeout: time.Minute, Transport: tr}
	body := &gatedBody{started: make(chan struct{}), release: make(chan struct{})}
	req, _ := http.NewRequest("POST", "https://"+f.addr+"/", body)
	req.ContentLength = 5
	req.Header.Set("Expect", "100-continue")
	type result struct {
		r   echo.Reply
		err error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var r echo.Reply
		err = json.NewDecoder(resp.Body).Decode(&r)
		if err == nil && resp.ProtoMajor != 2 {
			err = fmt.Errorf("served over %s", resp.Proto)
		}
		res <- result{r, err}
	}()
	select {
	case <-body.started:
	case r := <-res:
		t.Fatalf("the request ended before its handler read the body: %+v", r)
	case <-time.After(30 * time.Second):
		t.Fatal("no 100 Continue")
	}

	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGHUP)
	f.srv.WaitEvent(mark, 30*time.Second, "the old worker draining", func(e proctest.Event) bool {
		return e.Msg() == "worker stopping" && e.Int("pid") == old[0]
	})
	close(body.release)
	r := <-res
	if r.err != nil || r.r.Generation != 1 || r.r.BodyLength != 5 || r.r.HTTPVersion != "HTTP/2.0" {
		t.Fatalf("the stream in flight across the drain: %v, %+v", r.err, r.r)
	}
	proctest.Eventually(t, 30*time.Second, "the old worker gone", func() bool { return !proctest.Alive(old[0]) })
	resp, err := c.Get("https://" + f.addr + "/")
	if err != nil {
		t.Fatalf("the next request after the drain: %v", err)
	}
	var next echo.Reply
	json.NewDecoder(resp.Body).Decode(&next)
	resp.Body.Close()
	if next.Generation != 2 || resp.ProtoMajor != 2 {
		t.Errorf("the next request: generation %d over %s", next.Generation, resp.Proto)
	}
}
