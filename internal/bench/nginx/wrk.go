package main

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

// wrkResult is what one wrk run measured.
type wrkResult struct {
	Requests  int64
	ReqPerSec float64
	P99       time.Duration
	Errors    int64 // socket errors (connect, read, write, timeout) + non-2xx/3xx
}

// runWrk runs wrk --latency against url and parses its report.
func runWrk(ctx context.Context, bin, url string, threads, conns int, d time.Duration) (wrkResult, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second)),
		"--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("wrk %s: %w", url, err)
	}
	r, err := parseWrk(string(out))
	return r, string(out), err
}

var (
	reP99       = regexp.MustCompile(`^\s*99%\s+(\S+)`)
	reRequests  = regexp.MustCompile(`^\s*(\d+) requests in `)
	reRPS       = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)`)
	reSocketErr = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx    = regexp.MustCompile(`^\s*Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's text report (with --latency). The request count,
// Requests/sec and the 99% latency line are required.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveP99, haveRPS, haveReq bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case reP99.MatchString(line):
			d, err := parseWrkDuration(reP99.FindStringSubmatch(line)[1])
			if err != nil {
				return r, err
			}
			r.P99, haveP99 = d, true
		case reRequests.MatchString(line):
			r.Requests, _ = strconv.ParseInt(reRequests.FindStringSubmatch(line)[1], 10, 64)
			haveReq = true
		case reRPS.MatchString(line):
			r.ReqPerSec, _ = strconv.ParseFloat(reRPS.FindStringSubmatch(line)[1], 64)
			haveRPS = true
		case reSocketErr.MatchString(line):
			for _, s := range reSocketErr.FindStringSubmatch(line)[1:] {
				n, _ := strconv.ParseInt(s, 10, 64)
				r.Errors += n
			}
		case reNon2xx.MatchString(line):
			n, _ := strconv.ParseInt(reNon2xx.FindStringSubmatch(line)[1], 10, 64)
			r.Errors += n
		}
	}
	if !haveP99 || !haveRPS || !haveReq {
		return r, fmt.Errorf("unrecognised wrk output (p99 %v, req/s %v, requests %v)", haveP99, haveRPS, haveReq)
	}
	return r, nil
}

// parseWrkDuration parses wrk's latency format: a number and us, ms, s, m
// or h ("812.00us", "1.23ms", "2.00s").
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("bad wrk latency %q", s)
			}
			return time.Duration(f * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("bad wrk latency %q", s)
}
