package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// requirePromtool returns promtool's path; it skips the test without it,
// and fails it under CI.
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is missing (Debian: apt-get install prometheus)")
		}
		t.Skip("promtool is missing (Debian: apt-get install prometheus)")
	}
	return p
}

// metricValue returns the value of the sample line that starts with
// series, or -1.
func metricValue(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// /metrics from a running master passes promtool's checks, its
// request-duration histogram and per-worker counts follow the requests,
// and nothing goes down when a worker exits.
func TestMetricsPromtool(t *testing.T) {
	promtool := requirePromtool(t)
	status := proctest.FreeAddr(t)
	f := start(t, `
workers = 2
[status]
address = "`+status+`"
[[listen]]
address = "{{addr}}"
`)
	metrics := func() string {
		t.Helper()
		_, body := fetch(t, "http://"+status+"/metrics")
		return body
	}
	for range 10 {
		f.get("/")
	}
	var m string
	proctest.Eventually(t, 10*time.Second, "10 requests in the histogram", func() bool {
		m = metrics()
		return metricValue(m, `arbiter_request_duration_seconds_count`) == 10 &&
			metricValue(m, `arbiter_request_duration_seconds_bucket{le="+Inf"}`) == 10 &&
			strings.Count(m, "arbiter_worker_requests_total{") == 2 &&
			strings.Count(m, "arbiter_worker_requests_in_flight{") == 2
	})
	if sum := metricValue(m, "arbiter_request_duration_seconds_sum"); sum <= 0 {
		t.Errorf("histogram sum %v", sum)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(m)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- metrics:\n%s", err, out, m)
	}

	// One worker fewer: what it served stays in the totals.
	f.srv.Signal(syscall.SIGTTOU)
	f.waitWorkers(1, 15*time.Second)
	proctest.Eventually(t, 10*time.Second, "one worker in /metrics", func() bool {
		m = metrics()
		return strings.Count(m, "arbiter_worker_requests_total{") == 1
	})
	for _, series := range []string{"arbiter_request_duration_seconds_count", `arbiter_request_duration_seconds_bucket{le="+Inf"}`, "arbiter_requests_total"} {
		if v := metricValue(m, series); v != 10 {
			t.Errorf("%s = %v after a worker exited, want 10", series, v)
		}
	}
	f.get("/")
	proctest.Eventually(t, 10*time.Second, "11 requests in the histogram", func() bool {
		return metricValue(metrics(), "arbiter_request_duration_seconds_count") == 11
	})
}
