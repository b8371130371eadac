package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// startTestapp runs internal/testapp (arbiter with the Go test handlers)
// on config and waits for its first generation; it returns the fixture and
// testapp's state dir.
func startTestapp(t *testing.T, config string) (*fixture, string) {
	t.Helper()
	state := t.TempDir()
	f := newFixture(t, config)
	f.srv = proctest.Start(t, proctest.Build(t, "./internal/testapp"), []string{"run", f.cfg}, "ARBITER_TESTAPP_DIR="+state)
	f.srv.WaitMsg(0, 60*time.Second, "generation ready")
	return f, state
}

// A Go handler that never returns gets its client a 504 on every protocol
// after request_timeout, with its goroutine's stack, naming the handler's
// function, in the log.
func TestRequestTimeoutEveryProtocol(t *testing.T) {
	addrs := map[string]string{}
	var cfg strings.Builder
	cfg.WriteString("workers = 2\nrequest_timeout = \"1s\"\n[[listen]]\naddress = \"{{addr}}\"\n")
	for _, p := range []string{"fastcgi", "scgi", "uwsgi"} {
		addrs[p] = proctest.FreeAddr(t)
		fmt.Fprintf(&cfg, "[[listen]]\naddress = %q\nprotocol = %q\n", addrs[p], p)
	}
	f, _ := startTestapp(t, cfg.String())
	for _, tc := range []struct{ proto, want string }{
		{"http", ""},
		{"fastcgi", "Status: 504"},
		{"scgi", "Status: 504"},
		{"uwsgi", "HTTP/1.1 504"},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			uri := "/" + tc.proto + "/stuck"
			mark := f.srv.Count()
			if tc.proto == "http" {
				resp, err := client.Get("http://" + f.addr + uri)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusGatewayTimeout {
					t.Fatalf("status %d %q, want 504", resp.StatusCode, b)
				}
			} else {
				out, err := rawGet(tc.proto, addrs[tc.proto], uri, 10*time.Second)
				if err != nil || !strings.HasPrefix(out, tc.want) {
					t.Fatalf("reply %q (%v), want it to start with %q", out, err, tc.want)
				}
			}
			e, _ := f.srv.WaitEvent(mark, 10*time.Second, "the timeout log line of "+uri, func(e proctest.Event) bool {
				return e.Msg() == "request ran past request_timeout; cancelled its context" && e.Str("uri") == uri
			})
			if !strings.Contains(e.Str("stack"), "main.stuck(") {
				t.Errorf("the logged stack does not name the handler:\n%s", e.Str("stack"))
			}
		})
	}
}

// A handler that cannot be stopped gets its worker replaced: the
// replacement is ready before the worker retires, and a request in flight
// on the old worker completes. A slow request is logged once, while it
// runs, with its stack.
func TestStuckHandlerReplacesWorker(t *testing.T) {
	f, state := startTestapp(t, `
workers = 1
request_timeout = "1s"
slow_request_log = "200ms"
[[listen]]
address = "{{addr}}"
[[mount]]
path = "/long"
type = "go"
request_timeout = "0s"
`)
	old := f.waitWorkers(1, 10*time.Second)[0]

	// A request in flight on the only worker, held open by its gate.
	resp, err := client.Get("http://" + f.addr + "/long/stream?n=2&gate=open")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, err := br.ReadString('\n'); l != "chunk 0\n" {
		t.Fatalf("first chunk %q, %v", l, err)
	}
	slow, _ := f.srv.WaitEvent(0, 10*time.Second, "the slow request line", func(e proctest.Event) bool {
		return e.Msg() == "slow request" && strings.HasPrefix(e.Str("uri"), "/long/stream")
	})
	if !strings.Contains(slow.Str("stack"), "main.(*handler).stream") {
		t.Errorf("the slow request's stack does not name its handler:\n%s", slow.Str("stack"))
	}

	mark := f.srv.Count()
	stuck, err := client.Get("http://" + f.addr + "/stuck")
	if err != nil {
		t.Fatal(err)
	}
	stuck.Body.Close()
	if stuck.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("/stuck: %d, want 504", stuck.StatusCode)
	}
	_, asked := f.srv.WaitEvent(mark, 10*time.Second, "the replacement request", func(e proctest.Event) bool {
		return e.Msg() == "worker to be recycled; starting its replacement" && e.Int("worker_pid") == old &&
			e.Str("reason") == "request_timeout"
	})
	_, ready := f.srv.WaitEvent(asked, 30*time.Second, "the replacement ready", func(e proctest.Event) bool {
		return e.Msg() == "worker ready" && e.Int("worker_pid") != old
	})
	_, retiring := f.srv.WaitEvent(asked, 30*time.Second, "the old worker retiring", func(e proctest.Event) bool {
		return e.Msg() == "retiring worker" && e.Int("worker_pid") == old && e.Str("reason") == "request_timeout"
	})
	if retiring < ready {
		t.Errorf("the old worker retired (event %d) before its replacement was ready (event %d)", retiring, ready)
	}

	// The request in flight on the retiring worker still completes.
	if err := os.WriteFile(filepath.Join(state, "open"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "chunk 1\n" {
		t.Fatalf("the in-flight request's rest: %q, %v", rest, err)
	}
	e, _ := f.srv.WaitEvent(retiring, 30*time.Second, "the old worker's exit", func(e proctest.Event) bool {
		return e.Msg() == "worker exited" && e.Int("worker_pid") == old
	})
	if e.Int("exit_code") != 0 {
		t.Errorf("the old worker exited with %v", e)
	}
	n := 0
	for _, e := range f.srv.Events() {
		if e.Msg() == "slow request" && strings.HasPrefix(e.Str("uri"), "/long/stream") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d slow request lines for the streamed request, want 1", n)
	}
	// The new worker serves.
	f.get("/")
}
