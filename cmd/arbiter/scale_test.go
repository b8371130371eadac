package main

import (
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// A dynamic fleet grows while connections wait in the accept queue (each
// worker takes one connection at a time here, and the clients send nothing)
// up to workers_max, and shrinks to workers_min once they are gone; TTIN
// and arbiter scale stay within the bounds.
func TestDynamicScaling(t *testing.T) {
	status := proctest.FreeAddr(t)
	f := start(t, `
workers_min = 1
workers_max = 3
scale_down_after = "1s"
worker_connections = 1
read_header_timeout = "60s"
graceful_timeout = "2s"
pidfile = "{{dir}}/app.pid"
[status]
address = "`+status+`"
[[listen]]
address = "{{addr}}"
`)
	if s := statusJSON(t, "-c", f.cfg); s.Desired != 1 || s.WorkersMin != 1 || s.WorkersMax != 3 {
		t.Fatalf("start: %d workers (%d..%d)", s.Desired, s.WorkersMin, s.WorkersMax)
	}
	ctlFails(t, "4 workers is above the maximum 3 (workers_min..workers_max)", "scale", "-c", f.cfg, "4")
	ctlFails(t, "0 workers is below the minimum 1", "scale", "-c", f.cfg, "-1")

	mark := f.srv.Count()
	var conns []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	e, _ := f.srv.WaitEvent(mark, 30*time.Second, "scale up to 3 workers", func(e proctest.Event) bool {
		return e.Msg() == "scale up" && e.Int("workers") == 3
	})
	if e.Str("reason") != "accept_queue" || e.Int("queued") < 1 {
		t.Fatalf("scale up logged as %v", e)
	}
	f.waitWorkers(3, 30*time.Second)
	mark = f.srv.Count()
	f.srv.Signal(syscall.SIGTTIN)
	f.srv.WaitMsg(mark, 10*time.Second, "worker count not changed: at its bound")

	for _, c := range conns {
		c.Close()
	}
	mark = f.srv.Count()
	e, _ = f.srv.WaitEvent(mark, 60*time.Second, "scale down to 1 worker", func(e proctest.Event) bool {
		return e.Msg() == "scale down" && e.Int("workers") == 1
	})
	if e.Str("reason") != "idle" {
		t.Fatalf("scale down logged as %v", e)
	}
	f.waitWorkers(1, 30*time.Second)
	s := statusJSON(t, "-c", f.cfg)
	counts := map[string]uint64{}
	for _, d := range s.Scaling {
		counts[d.Direction+"/"+d.Reason] = d.Count
	}
	if counts["up/accept_queue"] != 2 || counts["down/idle"] != 2 {
		t.Fatalf("scaling decisions %+v", s.Scaling)
	}
	if s.Desired != 1 {
		t.Fatalf("workers wanted %d", s.Desired)
	}
	resp, err := client.Get("http://" + status + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`arbiter_scaling_decisions_total{direction="up",reason="accept_queue"} 2`,
		`arbiter_scaling_decisions_total{direction="down",reason="idle"} 2`,
		`arbiter_listener_accept_queue{listener="` + f.addr + `"} 0`,
		`arbiter_listener_backlog{listener="` + f.addr + `"} `,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, b)
		}
	}
}
