package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// report is the output of a complete run.
type report struct {
	duration, warmup time.Duration
	cpus             int
	loadavg          string
	start            time.Time
	elapsed          time.Duration
	apps             []appResult
}

func (rep report) print(w io.Writer) {
	fmt.Fprintf(w, "\narbiter bench-core: wrk -t%d -c%d, keep-alive, %v per server after a %v warm-up\n",
		wrkThreads, wrkConnections, rep.duration, rep.warmup)
	fmt.Fprintf(w, "%d CPUs, shared by wrk and the server under test (nothing pinned); load average at start %s\n",
		rep.cpus, rep.loadavg)
	gmp := 0
	if len(rep.apps) > 0 {
		gmp = rep.apps[0].gomaxprocs
	}
	fmt.Fprintf(w, "arbiter: %d workers on 127.0.0.1; net/http: one process, GOMAXPROCS=%d, same handler\n\n",
		arbiterWorkers, gmp)

	const row = "%-9s %-9s %9s %9s %9s %7s %8s %6s  %s\n"
	fmt.Fprintf(w, row, "app", "server", "req/s", "p50", "p99", "errors", "srv CPU", "other", "arbiter / net/http")
	worst := 0.0
	for _, a := range rep.apps {
		for _, m := range []struct {
			server string
			m      measurement
			ratio  string
		}{
			{"net/http", a.base, ""},
			{"arbiter", a.arb, verdict(a.arb.rps(), a.base.rps())},
		} {
			fmt.Fprintf(w, row, a.app, m.server, rate(m.m.rps()), latency(m.m.p50()), latency(m.m.p99()),
				count(m.m.errors()), fmt.Sprintf("%.2f", m.m.cores), percent(m.m.other), m.ratio)
			worst = max(worst, m.m.other)
		}
	}
	fmt.Fprintf(w, "srv CPU: CPUs the server's processes kept busy; other: share of all CPU time used by processes\n"+
		"other than the server, wrk and this benchmark during the measurement.\n")
	if worst > noisyShare {
		fmt.Fprintf(w, "WARNING: other processes used up to %s of the CPUs during a measurement; the req/s and\n"+
			"ratios are not reliable. Rerun on a quiet machine.\n", percent(worst))
	}
	fmt.Fprintf(w, "\nSIGTTIN to the new worker's \"worker ready\" in the master's log (%d times):\n", ttinRounds)
	for _, a := range rep.apps {
		med, hi := medianMax(a.ttin)
		fmt.Fprintf(w, "  %-9s median %s, max %s\n", a.app, latency(med), latency(hi))
	}

	fmt.Fprintf(w, "\nRSS (VmRSS), idle %v after the load:\n", idleBeforeRSS)
	for _, a := range rep.apps {
		var ws []string
		for _, id := range sortedKeys(a.workerRSS) {
			ws = append(ws, fmt.Sprintf("worker %d %s", id, mib(a.workerRSS[id])))
		}
		fmt.Fprintf(w, "  %-9s arbiter master %s, %s; net/http process %s\n",
			a.app, mib(a.masterRSS), strings.Join(ws, ", "), mib(a.baseRSS))
	}
	fmt.Fprintf(w, "\nmeasured in %v\n", rep.elapsed.Round(time.Second))
}

// verdict is the ratio of arbiter's rate to the baseline's, against the target.
func verdict(arb, base float64) string {
	if base <= 0 {
		return "n/a"
	}
	ratio := arb / base
	mark := "PASS"
	if ratio < targetRatio {
		mark = "MISS"
	}
	return fmt.Sprintf("%.2f %s (target >= %.1f)", ratio, mark, targetRatio)
}

func rate(rps float64) string { return fmt.Sprintf("%.0f", rps) }

func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func count(n int64) string { return fmt.Sprintf("%d", n) }

// latency prints d in milliseconds with two decimals.
func latency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// medianMax returns the median (the mean of the middle two for an even
// count) and the maximum of ds; zeros for none.
func medianMax(ds []time.Duration) (med, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[n-1]
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
