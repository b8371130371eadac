package master

import (
	"fmt"
	"io"
	"strconv"

	"github.com/arbiter-dev/arbiter/ipc"
)

// family writes a metric family's HELP and TYPE lines.
func family(w io.Writer, help, typ, name string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// perWorker writes a family with one sample per worker, labelled with the
// worker's id and pid; v gives a worker's value.
func perWorker(w io.Writer, s *Snapshot, help, typ, name string, v func(WorkerStatus) any) {
	family(w, help, typ, name)
	for _, wk := range s.Workers {
		fmt.Fprintf(w, "%s{worker=\"%d\",pid=\"%d\"} %v\n", name, wk.ID, wk.PID, v(wk))
	}
}

// perApp writes a family with one sample per app process (WSGI), labelled
// with its worker's id and its own pid.
func perApp(w io.Writer, s *Snapshot, help, typ, name string, v func(ipc.AppProcess) any) {
	family(w, help, typ, name)
	for _, wk := range s.Workers {
		for _, a := range wk.Apps {
			fmt.Fprintf(w, "%s{worker=\"%d\",pid=\"%d\"} %v\n", name, wk.ID, a.PID, v(a))
		}
	}
}

// writeRequestMetrics writes the per-worker request counts and the fleet's
// request-duration histogram. The histogram is always complete: with no
// request yet, every bucket is 0.
func writeRequestMetrics(w io.Writer, s *Snapshot) {
	perWorker(w, s, "Requests each worker is handling now, as of its last heartbeat.", "gauge", "arbiter_worker_requests_in_flight", func(wk WorkerStatus) any { return wk.InFlight })
	perWorker(w, s, "Requests each worker has served, as of its last heartbeat.", "counter", "arbiter_worker_requests_total", func(wk WorkerStatus) any { return wk.Requests })
	h := s.Durations
	if len(h.Counts) != len(ipc.DurationBuckets) {
		h.Counts = make([]uint64, len(ipc.DurationBuckets))
	}
	family(w, "Time from a request reaching a worker's app to its handler's return, over every worker since the master started.",
		"histogram", "arbiter_request_duration_seconds")
	for i, le := range ipc.DurationBuckets {
		fmt.Fprintf(w, "arbiter_request_duration_seconds_bucket{le=%q} %d\n", strconv.FormatFloat(le, 'g', -1, 64), h.Counts[i])
	}
	fmt.Fprintf(w, "arbiter_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", h.Count)
	fmt.Fprintf(w, "arbiter_request_duration_seconds_sum %s\n", strconv.FormatFloat(h.Sum, 'g', -1, 64))
	fmt.Fprintf(w, "arbiter_request_duration_seconds_count %d\n", h.Count)
}
