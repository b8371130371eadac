package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// max_worker_lifetime and max_worker_memory recycle workers under load, as
// max_requests does: the replacement is ready before the old worker stops
// accepting, so no request fails; the reason is in the log, in /status and
// in the retirement counters.
func TestRecycleByLifetimeAndMemory(t *testing.T) {
	for _, tc := range []struct {
		name, key, reason string
	}{
		{"lifetime", `max_worker_lifetime = "1s"` + "\nmax_worker_lifetime_jitter = \"500ms\"", "max_worker_lifetime"},
		// Any Go worker is over 1 MiB: each one is recycled once it is ready.
		{"memory", `max_worker_memory = "1MiB"`, "max_worker_memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := proctest.FreeAddr(t)
			f := start(t, `
workers = 2
`+tc.key+`
[status]
address = "`+status+`"
[[listen]]
address = "{{addr}}"
`)
			// Not a worker count: with the memory ceiling under any
			// worker's size, the fleet churns from its first second.
			f.srv.WaitMsg(0, 30*time.Second, "generation ready")
			l := startLoad(t, f.addr, 4)
			// Three retirements for the reason, each after its "to be
			// recycled" line: a worker retires only once its replacement
			// is ready.
			marked := map[int]bool{}
			retired := 0
			for from := 0; retired < 3; from++ {
				var e proctest.Event
				e, from = f.srv.WaitEvent(from, 60*time.Second, tc.reason, func(e proctest.Event) bool {
					return e.Str("reason") == tc.reason &&
						(e.Msg() == "worker to be recycled; starting its replacement" || e.Msg() == "retiring worker")
				})
				pid := e.Int("worker_pid")
				if e.Msg() == "worker to be recycled; starting its replacement" {
					marked[pid] = true
					continue
				}
				if !marked[pid] {
					t.Fatalf("worker %d retired for %s without being marked first", pid, tc.reason)
				}
				retired++
			}
			l.check(t)

			// The loop publishes /status at the end of the turn that
			// logged the retirement: the log line can come first.
			var s struct {
				Retirements map[string]uint64 `json:"retirements_total"`
			}
			var b string
			proctest.Eventually(t, 10*time.Second, "retirements_total["+tc.reason+"] >= 3 in /status", func() bool {
				_, b = fetch(t, "http://"+status+"/status")
				if err := json.Unmarshal([]byte(b), &s); err != nil {
					t.Fatalf("/status: %v: %s", err, b)
				}
				return s.Retirements[tc.reason] >= 3
			})
			if s.Retirements["max_requests"] != 0 || s.Retirements["reload"] != 0 {
				t.Fatalf("retirements for other reasons: %v", s.Retirements)
			}
			_, b = fetch(t, "http://"+status+"/metrics")
			if !strings.Contains(b, `arbiter_worker_retirements_total{reason="`+tc.reason+`"} `) ||
				!strings.Contains(b, `arbiter_worker_retirements_total{reason="scale_down"} 0`) {
				t.Fatalf("/metrics has no retirements for %s:\n%s", tc.reason, b)
			}
		})
	}
}
