package master

import (
	"fmt"
	"io"
	"strconv"

	"github.com/arbiter-dev/arbiter/ipc"
)

// writeRequestMetrics writes the per-worker request counts and the fleet's
// request-duration histogram. The histogram is always complete: with no
// request yet, every bucket is 0.
func writeRequestMetrics(w io.Writer, s *Snapshot) {
	p := func(help, typ, name string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	p("Requests each worker is handling now, as of its last heartbeat.", "gauge", "arbiter_worker_requests_in_flight")
	for _, wk := range s.Workers {
		fmt.Fprintf(w, "arbiter_worker_requests_in_flight{worker=\"%d\",pid=\"%d\"} %d\n", wk.ID, wk.PID, wk.InFlight)
	}
	p("Requests each worker has served, as of its last heartbeat.", "counter", "arbiter_worker_requests_total")
	for _, wk := range s.Workers {
		fmt.Fprintf(w, "arbiter_worker_requests_total{worker=\"%d\",pid=\"%d\"} %d\n", wk.ID, wk.PID, wk.Requests)
	}
	h := s.Durations
	if len(h.Counts) != len(ipc.DurationBuckets) {
		h.Counts = make([]uint64, len(ipc.DurationBuckets))
	}
	p("Time from a request reaching a worker's app to its handler's return, over every worker since the master started.",
		"histogram", "arbiter_request_duration_seconds")
	for i, le := range ipc.DurationBuckets {
		fmt.Fprintf(w, "arbiter_request_duration_seconds_bucket{le=%q} %d\n", strconv.FormatFloat(le, 'g', -1, 64), h.Counts[i])
	}
	fmt.Fprintf(w, "arbiter_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", h.Count)
	fmt.Fprintf(w, "arbiter_request_duration_seconds_sum %s\n", strconv.FormatFloat(h.Sum, 'g', -1, 64))
	fmt.Fprintf(w, "arbiter_request_duration_seconds_count %d\n", h.Count)
}
