package main

import (
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// examples/hello: a library-mode program has arbiter's CLI and runs its own
// handler in the workers.
func TestHelloExample(t *testing.T) {
	bin := proctest.Build(t, "./examples/hello")
	f := newFixture(t, "workers = 2\n[[listen]]\naddress = \"{{addr}}\"\n")
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg}, "HELLO_VERSION=7")
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	resp, err := client.Get("http://" + f.addr + "/there")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "Hello from worker ") || !strings.Contains(string(body), "over http: /there") ||
		resp.Header.Get("X-Hello-Version") != "7" {
		t.Fatalf("reply %q %v", body, resp.Header)
	}
	f.srv.Signal(syscall.SIGTERM)
	if code := f.srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The library hooks ran in both workers, in order, attributed to them.
	for _, hook := range []string{"post_fork", "post_worker_init", "worker_exit"} {
		n := 0
		for _, e := range f.srv.Events() {
			if e.Str("stream") == "output" && strings.Contains(e.Msg(), "("+hook+")") && e.Int("worker") > 0 {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s logged by %d workers, want 2", hook, n)
		}
	}
}

// An app that fails to load in every worker is retried with a growing
// back-off, then the master halts with exit code 4.
func TestAppLoadFailureBacksOffThenHalts(t *testing.T) {
	bin := proctest.Build(t, "./examples/hello")
	f := newFixture(t, "workers = 2\nmax_boot_failures = 4\n[[listen]]\naddress = \"{{addr}}\"\n")
	f.srv = proctest.Start(t, bin, []string{"run", f.cfg}, "HELLO_FAIL_LOAD=1")
	if code := f.srv.Wait(60 * time.Second); code != 4 {
		t.Fatalf("exit code %d, want 4", code)
	}
	var delays []float64
	for _, e := range f.srv.Events() {
		if e.Msg() == "worker failed to boot; retrying after a back-off" {
			d, _ := e["retry_in"].(float64)
			delays = append(delays, d)
		}
	}
	if len(delays) != 3 {
		t.Fatalf("back-off lines %v, want 3 (max_boot_failures = 4)", delays)
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] <= delays[i-1] {
			t.Fatalf("back-off does not grow: %v", delays)
		}
	}
	spawned := 0
	for _, l := range f.srv.Lines() {
		if strings.Contains(l, "refusing to load") {
			spawned++
		}
	}
	if spawned > 6 {
		t.Fatalf("%d workers failed to load: a hot respawn loop", spawned)
	}
}
