package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// A HUP that adds a listener binds it, one that removes a listener closes
// it (its unix socket file is unlinked) once the new generation is ready,
// and an unchanged listener stays the same socket throughout.
func TestHUPAddsAndRemovesListeners(t *testing.T) {
	f := start(t, `
workers = 1
[[listen]]
address = "{{addr}}"
[[listen]]
address = "unix:{{dir}}/old.sock"
`)
	kept := listenInode(t, f.addr)
	added := proctest.FreeAddr(t)
	f.write(fmt.Sprintf(`
workers = 1
[[listen]]
address = "{{addr}}"
[[listen]]
address = %q
protocol = "http"
`, added))
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGHUP)
	f.srv.WaitEvent(mark, 30*time.Second, "generation 2 ready", func(e proctest.Event) bool {
		return e.Msg() == "generation ready" && e.Int("generation") == 2
	})
	if got := listenInode(t, f.addr); got != kept {
		t.Fatalf("the unchanged listener was rebound: inode %s -> %s", kept, got)
	}
	resp, err := client.Get("http://" + added + "/new")
	if err != nil {
		t.Fatalf("added listener: %v", err)
	}
	resp.Body.Close()
	if _, err := os.Lstat(filepath.Join(f.dir, "old.sock")); !os.IsNotExist(err) {
		t.Fatalf("removed unix listener's file still there: %v", err)
	}
	proctest.Eventually(t, 10*time.Second, "old workers gone", func() bool { return len(f.workers()) == 1 })
	if _, err := net.Dial("unix", filepath.Join(f.dir, "old.sock")); err == nil {
		t.Fatal("removed unix listener still accepts")
	}
	if r := f.get("/"); r.Generation != 2 {
		t.Fatalf("generation %d", r.Generation)
	}
}

// A protocol change on an address takes effect with the new generation.
func TestHUPChangesProtocolWithNewGeneration(t *testing.T) {
	f := start(t, "workers = 1\n[[listen]]\naddress = \"{{addr}}\"\n")
	f.get("/")
	f.write("workers = 1\n[[listen]]\naddress = \"{{addr}}\"\nprotocol = \"scgi\"\n")
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGHUP)
	f.srv.WaitEvent(mark, 30*time.Second, "generation 2 ready", func(e proctest.Event) bool {
		return e.Msg() == "generation ready" && e.Int("generation") == 2
	})
	proctest.Eventually(t, 10*time.Second, "the http worker to retire", func() bool { return len(f.workers()) == 1 })
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hdr := "CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00REQUEST_URI\x00/scgi\x00"
	fmt.Fprintf(c, "%d:%s,", len(hdr), hdr)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "Status: 200") || !strings.Contains(string(b), `"protocol":"scgi"`) {
		t.Fatalf("SCGI reply after the protocol change: %q", b)
	}
}

// With reload_strategy = "rolling", HUP replaces one worker at a time:
// every old worker retires only after one more new worker is ready, no more
// than workers+1 run at once, and no request fails.
func TestRollingReload(t *testing.T) {
	f := start(t, `
workers = 3
reload_strategy = "rolling"
reload_batch = 1
[[listen]]
address = "{{addr}}"
`)
	f.waitWorkers(3, 10*time.Second)
	l := startLoad(t, f.addr, 6)
	l.waitOK(t, 200)
	mark := f.srv.Count()
	peak := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if w := f.workers(); len(w) > peak {
				peak = len(w)
				t.Logf("%s: %d workers %v", time.Now().Format("15:04:05.000"), len(w), w)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	f.srv.Signal(syscall.SIGHUP)
	f.srv.WaitEvent(mark, 30*time.Second, "generation 2 ready", func(e proctest.Event) bool {
		return e.Msg() == "generation ready" && e.Int("generation") == 2
	})
	proctest.Eventually(t, 15*time.Second, "old workers gone", func() bool { return len(f.workers()) == 3 })
	close(stop)
	<-done
	l.check(t)

	readyNew, retiredOld := 0, 0
	for _, e := range f.srv.Events()[mark:] {
		switch {
		case e.Msg() == "worker ready" && e.Int("generation") == 2:
			readyNew++
		case e.Msg() == "retiring worker" && e.Int("generation") == 1:
			retiredOld++
			if retiredOld > readyNew {
				t.Fatalf("old worker %d retired before a new one was ready for it (%d ready, %d retired)", e.Int("worker"), readyNew, retiredOld)
			}
		}
	}
	if readyNew != 3 || retiredOld != 3 {
		t.Fatalf("%d new ready, %d old retired; want 3 and 3", readyNew, retiredOld)
	}
	if peak > 4 {
		t.Fatalf("%d workers at once during a rolling reload with batch 1", peak)
	}
}
