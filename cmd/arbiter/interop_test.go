package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/nginxtest"
	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// interopRow is one way of putting arbiter behind nginx. Its location
// template gets {{up}}: the upstream's host:port, or the name of an
// upstream block with keepalive when keepalive is set.
type interopRow struct {
	name      string
	listener  string // which arbiter listener: fastcgi, scgi, uwsgi, http
	location  string
	keepalive bool // an upstream block with keepalive; nginx reuses connections
	// streamsChunked: a chunked upload reaches the handler as it arrives,
	// with ContentLength -1 (fastcgi_request_buffering off); otherwise nginx
	// buffers it and sends its length.
	streamsChunked bool
	// hostPort: the Host the app sees keeps the client's port. Debian's
	// fastcgi_params, scgi_params and uwsgi_params set HTTP_HOST to $host,
	// which drops it.
	hostPort bool
}

// interopRows are the nginx configurations docs/protocols.md shows.
var interopRows = []interopRow{
	{name: "fcgi", listener: "fastcgi", location: `
		include /etc/nginx/fastcgi_params;
		fastcgi_pass {{up}};`},
	{name: "fcgi-keepconn", listener: "fastcgi", keepalive: true, location: `
		include /etc/nginx/fastcgi_params;
		fastcgi_keep_conn on;
		fastcgi_pass {{up}};`},
	{name: "fcgi-unbuffered", listener: "fastcgi", streamsChunked: true, location: `
		include /etc/nginx/fastcgi_params;
		fastcgi_request_buffering off;
		fastcgi_pass {{up}};`},
	{name: "scgi", listener: "scgi", location: `
		include /etc/nginx/scgi_params;
		scgi_pass {{up}};`},
	{name: "uwsgi", listener: "uwsgi", location: `
		include /etc/nginx/uwsgi_params;
		uwsgi_pass {{up}};`},
	{name: "http", listener: "http", hostPort: true, location: `
		proxy_set_header Host $http_host;
		proxy_pass http://{{up}};`},
	{name: "http-keepalive", listener: "http", keepalive: true, hostPort: true, location: `
		proxy_http_version 1.1;
		proxy_set_header Connection "";
		proxy_set_header Host $http_host;
		proxy_pass http://{{up}};`},
}

// interopEnv is arbiter (internal/testapp, two workers, one listener per
// protocol) behind one nginx with a location per row, /ROW/ direct and
// /ROW-relay/ through a counting relay.
type interopEnv struct {
	arb    *fixture
	ng     *nginxtest.Nginx
	state  string            // testapp's state dir
	addrs  map[string]string // listener protocol → address
	relays map[string]*relay // row → relay
	client *http.Client
	body   []byte // 10 MB upload
	sum    string
}

func startInterop(t *testing.T) *interopEnv {
	t.Helper()
	nginxtest.Require(t)
	e := &interopEnv{state: t.TempDir(), addrs: map[string]string{}, relays: map[string]*relay{}}
	var cfg strings.Builder
	// keepalive: arbiter closes idle kept connections after 1s, well
	// before nginx's upstream keepalive_timeout (60s); see testIdle.
	cfg.WriteString("workers = 2\nkeepalive = \"1s\"\n")
	for _, p := range []string{"fastcgi", "scgi", "uwsgi", "http"} {
		e.addrs[p] = proctest.FreeAddr(t)
		fmt.Fprintf(&cfg, "[[listen]]\naddress = %q\nprotocol = %q\n", e.addrs[p], p)
	}
	e.arb = newFixture(t, cfg.String())
	e.arb.srv = proctest.Start(t, proctest.Build(t, "./internal/testapp"), []string{"run", e.arb.cfg},
		"ARBITER_TESTAPP_DIR="+e.state)
	e.arb.srv.WaitMsg(0, 60*time.Second, "generation ready")

	var httpBlock, server strings.Builder
	httpBlock.WriteString("client_max_body_size 64m;\n")
	for _, row := range interopRows {
		r := startRelay(t, e.addrs[row.listener])
		e.relays[row.name] = r
		for _, v := range []struct{ suffix, addr string }{{"", e.addrs[row.listener]}, {"-relay", r.Addr()}} {
			up := v.addr
			if row.keepalive {
				up = strings.ReplaceAll(row.name+v.suffix, "-", "_")
				fmt.Fprintf(&httpBlock, "upstream %s {\n    server %s;\n    keepalive 8;\n}\n", up, v.addr)
			}
			fmt.Fprintf(&server, "location /%s%s/ {%s\n}\n", row.name, v.suffix,
				strings.ReplaceAll(row.location, "{{up}}", up))
		}
	}
	for _, h := range hostRows {
		fmt.Fprintf(&server, "location /%s/ {%s\n}\n", h.name, strings.ReplaceAll(h.location, "{{up}}", e.addrs[h.listener]))
	}
	e.ng = nginxtest.Start(t, nginxtest.Config{HTTP: httpBlock.String(), Server: server.String()})

	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	e.body = make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{'a', 'r', 'b', 'i', 't', 'e', 'r'})
	_, _ = rng.Read(e.body)
	s := sha256.Sum256(e.body)
	e.sum = hex.EncodeToString(s[:])
	return e
}

// TestInterop runs arbiter behind a real nginx for every row: GET with
// query strings, HEAD, 10 MB uploads (sized and chunked) checked by
// SHA-256, ≥ 50 headers, a streamed response, 1000 sequential requests with
// the upstream connections counted, and a client aborting mid-response. It
// ends with nginx's error log and arbiter's log free of errors, and the
// same two workers alive.
func TestInterop(t *testing.T) {
	e := startInterop(t)
	workers := e.arb.waitWorkers(2, 10*time.Second)
	logFrom := e.arb.srv.Count()
	for _, row := range interopRows {
		t.Run(row.name, func(t *testing.T) {
			mark := e.ng.Mark()
			t.Run("get", func(t *testing.T) { e.testGet(t, row) })
			t.Run("head", func(t *testing.T) { e.testHead(t, row) })
			t.Run("post", func(t *testing.T) { e.testPost(t, row, false) })
			t.Run("post-chunked", func(t *testing.T) { e.testPost(t, row, true) })
			t.Run("headers", func(t *testing.T) { e.testHeaders(t, row) })
			t.Run("stream", func(t *testing.T) { e.testStream(t, row) })
			t.Run("sequential", func(t *testing.T) { e.testSequential(t, row) })
			t.Run("abort", func(t *testing.T) { e.testAbort(t, row) })
			if row.keepalive {
				t.Run("idle", func(t *testing.T) { e.testIdle(t, row) })
			}
			e.ng.CheckErrors(t, mark)
		})
	}
	t.Run("host-port", func(t *testing.T) {
		mark := e.ng.Mark()
		e.testHostPort(t)
		e.ng.CheckErrors(t, mark)
	})
	if now := e.arb.workers(); !sameSet(now, workers) {
		t.Errorf("workers %v at the start, %v at the end", workers, now)
	}
	for _, ev := range e.arb.srv.Events()[logFrom:] {
		if lvl := ev.Str("level"); lvl != "info" && lvl != "debug" {
			t.Errorf("arbiter logged at %s: %v", lvl, ev)
		}
	}
}

func (e *interopEnv) url(row interopRow, path string) string {
	return e.ng.URL("/" + row.name + path)
}

func (e *interopEnv) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, body)
	}
	return resp, body
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func sameSet(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
