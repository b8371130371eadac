// Package benchkit holds what the benchmark programs share: running and
// reading wrk, and building the programs they measure.
package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Result is what one load run measured: from wrk's report, or from the
// bare fork+exec loop.
type Result struct {
	Requests  int64
	Elapsed   time.Duration // the run's length as measured (wrk: its "in 10.01s")
	ReqPerSec float64
	P50, P99  time.Duration
	Errors    int64 // socket errors (connect, read, write, timeout) + non-2xx/3xx
	// CPU is the CPU time the whole machine was busy during the run
	// (the caller measures it); 0 if unknown.
	CPU time.Duration
}

// CPUPerRequest is CPU / Requests, 0 when either is unknown.
func (r Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// RunWrk runs `wrk -tT -cC -dD --latency url` and parses its report. A
// wrk that has not finished 30 s after d is killed (and is an error).
func RunWrk(ctx context.Context, bin, url string, threads, conns int, d time.Duration) (Result, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cmd := exec.CommandContext(ctx, bin,
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, string(out), fmt.Errorf("wrk %s: %w", url, err)
	}
	r, err := ParseWrk(string(out))
	return r, string(out), err
}

var (
	reLatency   = regexp.MustCompile(`^\s*(50|99)%\s+(\S+)\s*$`)
	reRequests  = regexp.MustCompile(`^\s*(\d+) requests in (\S+),`)
	reRPS       = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)\s*$`)
	reSocketErr = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx    = regexp.MustCompile(`^\s*Non-2xx or 3xx responses: (\d+)`)
)

// ParseWrk reads wrk's text report (run with --latency). The request
// count, the run's length, Requests/sec and the 50% and 99% latency lines
// are required; the error lines are there only when there were errors.
func ParseWrk(out string) (Result, error) {
	var r Result
	var have50, have99, haveRPS, haveReq bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := reLatency.FindStringSubmatch(line); m != nil {
			d, err := ParseWrkDuration(m[2])
			if err != nil {
				return r, err
			}
			if m[1] == "50" {
				r.P50, have50 = d, true
			} else {
				r.P99, have99 = d, true
			}
		} else if m := reRequests.FindStringSubmatch(line); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk request count %q: %w", m[1], err)
			}
			d, err := ParseWrkDuration(m[2])
			if err != nil {
				return r, err
			}
			r.Requests, r.Elapsed, haveReq = n, d, true
		} else if m := reRPS.FindStringSubmatch(line); m != nil {
			f, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk Requests/sec %q: %w", m[1], err)
			}
			r.ReqPerSec, haveRPS = f, true
		} else if m := reSocketErr.FindStringSubmatch(line); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.ParseInt(s, 10, 64) // \d+: only overflow fails
				r.Errors += n
			}
		} else if m := reNon2xx.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			r.Errors += n
		}
	}
	if !have50 || !have99 || !haveRPS || !haveReq {
		return r, fmt.Errorf("unrecognised wrk output (p50 %v, p99 %v, req/s %v, requests %v)", have50, have99, haveRPS, haveReq)
	}
	return r, nil
}

// ParseWrkDuration parses wrk's duration format: a number and us, ms, s,
// m or h ("812.00us", "1.23ms", "10.01s").
func ParseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("bad wrk duration %q", s)
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bad wrk duration %q", s)
}
