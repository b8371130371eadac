package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// bareExec runs the script directly from this (Go) process, a gateway
// reduced to os/exec and nothing else: os/exec forks (clone with CLONE_VFORK),
// execs the script with a one-variable environment in its own directory,
// collects its stdout through a pipe and waits for it. conc goroutines do
// so in a loop for d. Every run's output must start with the script's
// header, or it counts as an error. Latencies are per run; Elapsed is the
// wall time of the whole loop, so ReqPerSec is runs per second.
//
// It stops early, with what it has, when ctx ends.
func bareExec(ctx context.Context, script string, conc int, d time.Duration) result {
	deadline := time.Now().Add(d)
	var (
		mu    sync.Mutex
		lats  []time.Duration
		errs  int64
		wg    sync.WaitGroup
		start = time.Now()
	)
	cpu0 := machineCPU()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int64
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				cmd := exec.Command(script)
				cmd.Dir = filepath.Dir(script)
				cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
				out, err := cmd.Output()
				mine = append(mine, time.Since(t0))
				if err != nil || !bytes.HasPrefix(out, []byte("Content-Type:")) {
					bad++
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := summarize(lats, errs, time.Since(start))
	r.CPU = machineCPU() - cpu0
	return r
}

// summarize turns per-run latencies into a result.
func summarize(lats []time.Duration, errs int64, elapsed time.Duration) result {
	r := result{Requests: int64(len(lats)), Errors: errs, Elapsed: elapsed}
	if len(lats) == 0 || elapsed <= 0 {
		return r
	}
	slices.Sort(lats)
	r.P50 = percentile(lats, 50)
	r.P99 = percentile(lats, 99)
	r.ReqPerSec = float64(len(lats)) / elapsed.Seconds()
	return r
}

// percentile returns the p-th percentile (nearest rank) of sorted, which
// must not be empty.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// meanPerRequest is 1/(req/s): at concurrency 1, the mean time one request
// takes from start to end, everything on its path included.
func meanPerRequest(r result) (time.Duration, error) {
	if r.ReqPerSec <= 0 {
		return 0, fmt.Errorf("no requests")
	}
	return time.Duration(float64(time.Second) / r.ReqPerSec), nil
}
