package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// The master's status server: liveness, readiness, the fleet as JSON, and
// Prometheus metrics that count the requests the workers served.
func TestStatusServer(t *testing.T) {
	status := proctest.FreeAddr(t)
	f := start(t, `
workers = 2
[status]
address = "`+status+`"
[[listen]]
address = "{{addr}}"
`)
	for range 10 {
		f.get("/")
	}
	get := func(path string) (int, string) {
		t.Helper()
		return fetch(t, "http://"+status+path)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}
	_, body := get("/status")
	var s struct {
		Generation int `json:"generation"`
		Goroutines int `json:"goroutines"`
		Workers    []struct {
			State string `json:"state"`
			PID   int    `json:"pid"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil || len(s.Workers) != 2 || s.Workers[0].State != "ready" || s.Goroutines < 1 {
		t.Fatalf("/status %v: %s", err, body)
	}
	// Request totals arrive with the heartbeats (at most a second late).
	proctest.Eventually(t, 5*time.Second, "arbiter_requests_total 10", func() bool {
		_, m := get("/metrics")
		return strings.Contains(m, "arbiter_requests_total 10\n") && strings.Contains(m, `arbiter_workers{state="ready"} 2`) &&
			!strings.Contains(m, "_goroutines 0") && strings.Count(m, "arbiter_worker_goroutines{") == 2
	})
	f.srv.Signal(syscall.SIGWINCH)
	f.waitWorkers(0, 15*time.Second)
	if code, body := get("/readyz"); code != 503 {
		t.Fatalf("/readyz with no worker: %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz with the master idle but alive: %d", code)
	}
}
