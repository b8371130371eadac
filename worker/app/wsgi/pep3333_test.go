package wsgi

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
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
)

func TestEnviron(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.ScriptName = "" })
	resp, body := a.get(t, "/environ?a=1&b=%20")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := map[string]any{
		"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/environ", "QUERY_STRING": "a=1&b=%20",
		"SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_URI": "/environ?a=1&b=%20", "RAW_URI": "/environ?a=1&b=%20",
		"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "arbiter", "REMOTE_ADDR": "127.0.0.1",
		"SERVER_NAME": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.multithread": false,
		"wsgi.multiprocess": false, "wsgi.run_once": false, "wsgi.input_terminated": true,
		"HTTP_USER_AGENT": "Go-http-client/1.1",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %#v, want %#v", k, env[k], v)
		}
	}
	for _, k := range []string{"SERVER_PORT", "REMOTE_PORT", "HTTP_HOST"} {
		if s, _ := env[k].(string); s == "" {
			t.Errorf("%s missing", k)
		}
	}
	for _, k := range []string{"CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s = %v on a GET without a body, want it absent", k, env[k])
		}
	}
}

func TestEnvironHeadersAndPaths(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.ScriptName = "/mnt"; c.Processes = 1 })
	env := func(path string, hdr map[string][]string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest("GET", a.url+path, nil)
		for k, vv := range hdr {
			for _, v := range vv {
				req.Header.Add(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	m := env("/mnt/environ", map[string][]string{
		"X-Multi": {"a", "b"}, "Cookie": {"c=1", "d=2"}, "Authorization": {"Bearer t"},
		"Proxy": {"http://evil"}, "X_Under": {"spoof"}, "X-Latin": {"caf\xe9"},
	})
	for k, v := range map[string]any{
		"SCRIPT_NAME": "/mnt", "PATH_INFO": "/environ", "HTTP_X_MULTI": "a, b", "HTTP_COOKIE": "c=1; d=2",
		"HTTP_AUTHORIZATION": "Bearer t", "HTTP_X_LATIN": "caf\u00e9",
	} {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTP_X_UNDER"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s passed: %v", k, m[k])
		}
	}
	// PATH_INFO is decoded; bytes that are not UTF-8 arrive one character
	// each (latin-1), as PEP 3333 says.
	m = env("/mnt/environ%E2%98%83%FF", nil)
	if m["PATH_INFO"] != "/environ\u00e2\u0098\u0083\u00ff" {
		t.Errorf("PATH_INFO = %q", m["PATH_INFO"])
	}
	resp, _ := a.get(t, "/mnt/a%00b")
	if resp.StatusCode != 400 {
		t.Errorf("NUL in the path: status %d, want 400", resp.StatusCode)
	}
}

func TestInput(t *testing.T) {
	a := startApp(t, "conformance", nil)
	lines := strings.Repeat("a line of text\n", 20000) + "no newline at the end"
	small := []byte("one\ntwo\nthree")
	for _, tc := range []struct {
		name string
		body []byte
	}{{"small", small}, {"empty", []byte{}}, {"over the buffer (temporary file)", []byte(lines)}} {
		sum := sha256.Sum256(tc.body)
		for _, how := range []string{"read", "readline", "readlines", "iter", "chunks"} {
			resp, body := a.do(t, "POST", "/body?"+how, tc.body)
			var got struct {
				SHA256        string  `json:"sha256"`
				Length        int     `json:"length"`
				ContentLength *string `json:"content_length"`
			}
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
				t.Fatalf("%s %s: %d %s", tc.name, how, resp.StatusCode, body)
			}
			if got.SHA256 != hex.EncodeToString(sum[:]) || got.Length != len(tc.body) {
				t.Errorf("%s %s: read %d bytes, want %d", tc.name, how, got.Length, len(tc.body))
			}
			if got.ContentLength == nil || *got.ContentLength != fmt.Sprint(len(tc.body)) {
				t.Errorf("%s %s: CONTENT_LENGTH %v", tc.name, how, got.ContentLength)
			}
		}
	}
	// GET without a body: wsgi.input is empty.
	_, body := a.get(t, "/body?read")
	if !strings.Contains(body, `"length": 0`) {
		t.Errorf("GET: %s", body)
	}
}

func TestChunkedInput(t *testing.T) {
	a := startApp(t, "conformance", nil)
	data := strings.Repeat("0123456789", 10000)
	req, _ := http.NewRequest("POST", a.url+"/body?chunks", io.MultiReader(strings.NewReader(data))) // no length: chunked
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Length        int    `json:"length"`
		ContentLength string `json:"content_length"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Length != len(data) || got.ContentLength != fmt.Sprint(len(data)) {
		t.Errorf("chunked body: read %d, CONTENT_LENGTH %q; want %d for both", got.Length, got.ContentLength, len(data))
	}
}

func TestMaxBodySize(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.MaxBodySize = 1000; c.Processes = 1 })
	if resp, _ := a.do(t, "POST", "/body", make([]byte, 1001)); resp.StatusCode != 413 {
		t.Errorf("1001 bytes: status %d, want 413", resp.StatusCode)
	}
	if resp, _ := a.do(t, "POST", "/body", make([]byte, 1000)); resp.StatusCode != 200 {
		t.Errorf("1000 bytes: status %d, want 200", resp.StatusCode)
	}
}

func TestResponses(t *testing.T) {
	a := startApp(t, "conformance", nil)
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/write", "written then returned\n", 200},
		{"/exc-info", "replaced\n", 503},
		{"/stream?n=3&delay=0", "chunk 0\nchunk 1\nchunk 2\n", 200},
		{"/204", "", 204},
	} {
		resp, body := a.get(t, tc.path)
		if resp.StatusCode != tc.status || body != tc.want {
			t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	// A whole response gets a Content-Length; HEAD keeps the app's.
	resp, body := a.get(t, "/big?100000")
	if resp.ContentLength != 100000 || len(body) != 100000 {
		t.Errorf("big: Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	resp, body = a.get(t, "/big?5000000") // larger than the read buffer and the memory buffer
	if resp.ContentLength != 5000000 || len(body) != 5000000 {
		t.Errorf("5 MB: Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	resp, body = a.get(t, "/big-validated?5000000") // an iterator: streamed as it comes
	if resp.ContentLength != -1 || len(body) != 5000000 {
		t.Errorf("5 MB streamed: Content-Length %d, body %d bytes", resp.ContentLength, len(body))
	}
	resp, body = a.do(t, "HEAD", "/head", nil)
	if resp.ContentLength != 6 || body != "" {
		t.Errorf("HEAD: Content-Length %d, body %q", resp.ContentLength, body)
	}
	// Hop-by-hop headers from the app are dropped; Connection: close holds.
	resp, _ = a.get(t, "/hop")
	if resp.Header.Get("Keep-Alive") != "" || !resp.Close {
		t.Errorf("hop-by-hop: Keep-Alive %q, close %v", resp.Header.Get("Keep-Alive"), resp.Close)
	}
	// The factory form.
	_ = a
}

func TestFactory(t *testing.T) {
	a := startApp(t, "conformance:create_app('hi there')", func(c *Config) { c.Processes = 1 })
	if _, body := a.get(t, "/"); body != "hi there\n" {
		t.Errorf("factory: %q", body)
	}
}

func TestStreamingArrivesChunkByChunk(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	resp, err := http.Get(a.url + "/stream?n=3&delay=0.3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var at []time.Time
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			at = append(at, time.Now())
		}
		if err != nil {
			break
		}
	}
	if len(at) != 3 {
		t.Fatalf("got %d chunks", len(at))
	}
	// The app sleeps 0.3 s before each chunk: had the response been
	// buffered, all three would arrive together.
	if at[2].Sub(at[0]) < 400*time.Millisecond {
		t.Errorf("chunks arrived within %v of each other: the response was not streamed", at[2].Sub(at[0]))
	}
	if resp.ContentLength != -1 {
		t.Errorf("a streamed response has Content-Length %d", resp.ContentLength)
	}
}

// PEP 3333 says a server must not delay any block the app yields. The
// block that completes a declared Content-Length is no exception: it
// reaches the client before the iterable's close() returns, so work an app
// does there after its response (Flask's call_on_close, Django's
// request_finished) does not delay the client. Here close() waits for
// the next request, which the test sends only once it has the whole
// response; held back until close() returned, the response would come
// only when close() gave up waiting, and /release would say so.
func TestResponseBeforeClose(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes, c.Threads = 1, 2 })
	// A connection of its own: the server reads the next request of a
	// connection only once the handler has returned, after close().
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(a.url + "/work-on-close")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(b) != "the response, before close()\n" || resp.ContentLength != int64(len(b)) {
		t.Fatalf("%d %q %v, Content-Length %d", resp.StatusCode, b, err, resp.ContentLength)
	}
	if _, got := a.get(t, "/release"); got != "released" {
		t.Fatalf("close() %s: the response waited for it", got)
	}
}

func TestCloseWhenClientLeaves(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	c, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	for i := 0; i < 5; i++ { // headers and a few events
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	// The app's iterable is closed, and its process is free again.
	waitFor(t, "close() of the endless iterable", func() bool {
		_, body := a.get(t, "/closed")
		return strings.Contains(body, "forever")
	})
}

func TestFileWrapper(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	f := filepath.Join(t.TempDir(), "data.bin")
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := a.get(t, "/file?"+f)
	if resp.ContentLength != int64(len(data)) || body != string(data) {
		t.Errorf("file_wrapper: Content-Length %d, %d bytes, equal %v", resp.ContentLength, len(body), body == string(data))
	}
	resp, body = a.get(t, "/file-offset?"+f)
	if resp.ContentLength != int64(len(data)-10) || body != string(data[10:]) {
		t.Errorf("file_wrapper from an offset: Content-Length %d, %d bytes", resp.ContentLength, len(body))
	}
	_, body = a.get(t, "/file-validated?"+f) // the validator hides the file: iterated
	if body != string(data) {
		t.Errorf("file_wrapper under the validator: %d bytes", len(body))
	}
	// Not a real file: iterated.
	resp, body = a.get(t, "/file?/proc/self/status")
	if resp.StatusCode != 200 || !strings.Contains(body, "Name:") {
		t.Errorf("file_wrapper on /proc: %d %q", resp.StatusCode, body)
	}
}

func TestBadApps(t *testing.T) {
	a := startApp(t, "conformance", nil)
	for _, tc := range []struct {
		path   string
		status int
		log    string
	}{
		{"/bad/status", 500, "status must be three digits"},
		{"/bad/status-int", 500, "status must be a str"},
		{"/bad/body-str", 500, "must be bytes, got str"},
		{"/bad/header-crlf", 500, "control character"},
		{"/bad/header-name", 500, "is not an HTTP token"},
		{"/bad/header-latin1", 500, "latin-1"},
		{"/bad/raise-before", 500, "boom before the headers"},
		{"/bad/no-start-response", 500, "without calling start_response"},
		{"/bad/second-start-response", 500, "a second time"},
	} {
		resp, body := a.get(t, tc.path)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%q)", tc.path, resp.StatusCode, tc.status, body)
		}
		if resp.Header.Get("X-Evil") != "" || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a header with CR/LF got through", tc.path)
		}
		line := a.log.wait(t, tc.log)
		if !strings.Contains(line, "Traceback") || !strings.Contains(line, tc.path) {
			t.Errorf("%s: the log line has no traceback or no request: %s", tc.path, line)
		}
	}
	// An exception after the headers: the client sees a cut response, not a
	// whole one.
	_, err := http.Get(a.url + "/bad/raise-after")
	if err == nil {
		resp, _ := http.Get(a.url + "/bad/raise-after")
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			t.Errorf("raise after headers: read %q without an error", b)
		}
	}
	a.log.wait(t, "boom after the headers", "after the response headers were sent")
	// The processes are still the same two, and serve.
	if resp, body := a.get(t, "/pid"); resp.StatusCode != 200 {
		t.Errorf("after the bad apps: %d %s", resp.StatusCode, body)
	}
}

func TestErrorsStreamReachesTheLog(t *testing.T) {
	a := startApp(t, "conformance", func(c *Config) { c.Processes = 1 })
	a.get(t, "/errors")
	a.log.wait(t, "to wsgi.errors from the app")
}
