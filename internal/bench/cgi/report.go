package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

// target is what issue 4 asks of arbiter: at least 1.2 × fcgiwrap's
// requests per second, same script, same nginx, same load.
const target = 1.2

// Row names.
const (
	rowFcgiwrap = "fcgiwrap"
	rowArbiter  = "arbiter"
	rowMinimal  = "minimal Go gateway"
	rowBare     = "bare fork+exec (Go)"
)

// row is one measurement: a server behind nginx loaded with wrk, or the
// bare fork+exec loop.
type row struct {
	name string
	conc int    // concurrent requests (wrk connections, or goroutines)
	path string // URL path behind nginx; "" for the bare loop
	runs []result
	res  result // the median of runs (see pick)
	err  error
}

// pick sets res to the median run by req/s (the lower middle one of an
// even number), so that one run slowed by other work on the machine does
// not decide the row.
func (r *row) pick() {
	if len(r.runs) == 0 {
		return
	}
	sorted := slices.Clone(r.runs)
	slices.SortFunc(sorted, func(a, b result) int { return cmp.Compare(a.ReqPerSec, b.ReqPerSec) })
	r.res = sorted[(len(sorted)-1)/2]
}

// ok reports whether the row ran and had no errors: a fast row full of
// errors proves nothing.
func (r *row) ok() bool {
	return r != nil && r.err == nil && r.res.Errors == 0 && r.res.ReqPerSec > 0
}

// find returns the row with name and concurrency conc, nil if none.
func find(rows []*row, name string, conc int) *row {
	for _, r := range rows {
		if r.name == name && r.conc == conc {
			return r
		}
	}
	return nil
}

// printTable writes one line per row: concurrency, req/s, p50, p99,
// errors (or why the row failed).
func printTable(w io.Writer, rows []*row) {
	width := len("row")
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	fmt.Fprintf(w, "%-*s  %4s  %9s  %9s  %9s  %6s  %8s\n", width, "row", "conc", "req/s", "p50", "p99", "errors", "cpu/req")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(w, "%-*s  %4d  failed: %s\n", width, r.name, r.conc, benchkit.FirstLine(r.err))
			continue
		}
		cpu := "n/a"
		if c := r.res.CPUPerRequest(); c > 0 {
			cpu = benchkit.FmtDur(c)
		}
		fmt.Fprintf(w, "%-*s  %4d  %9.1f  %9s  %9s  %6d  %8s\n", width, r.name, r.conc,
			r.res.ReqPerSec, benchkit.FmtDur(r.res.P50), benchkit.FmtDur(r.res.P99), r.res.Errors, cpu)
	}
	fmt.Fprintf(w, "cpu/req: busy CPU time of the whole machine during the run (/proc/stat), per request: nginx, wrk, the server,\n"+
		"  the script and the kernel (fcgiwrap's scripts are reaped unaccounted, so per-process times cannot compare the two)\n")
}

// printRounds lists the req/s of every run of each row, in order.
func printRounds(w io.Writer, rows []*row) {
	fmt.Fprintf(w, "req/s of each round:\n")
	for _, r := range rows {
		var parts []string
		for _, run := range r.runs {
			parts = append(parts, fmt.Sprintf("%.1f", run.ReqPerSec))
		}
		fmt.Fprintf(w, "  %-20s c%-3d %s\n", r.name, r.conc, strings.Join(parts, "  "))
	}
	for _, p := range []struct {
		name string
		conc int
	}{{rowArbiter, 0}, {rowArbiter, 1}, {rowMinimal, 0}} {
		c := rowConc(rows, p.conc)
		if ratios := roundRatios(rows, p.name, c); len(ratios) > 0 {
			var parts []string
			for _, q := range ratios {
				parts = append(parts, fmt.Sprintf("%.2f", q))
			}
			sorted := slices.Clone(ratios)
			slices.Sort(sorted)
			fmt.Fprintf(w, "  %-20s c%-3d %s  (median %.2f)\n", shortName(p.name)+" / fcgiwrap", c, strings.Join(parts, "  "), sorted[(len(sorted)-1)/2])
		}
	}
}

// shortName is a row's name as the per-round ratios show it.
func shortName(name string) string {
	if name == rowMinimal {
		return "minimal"
	}
	return name
}

// rowConc is the concurrency of the arbiter row: conc when it is 1, the
// concurrent row's otherwise (conc 0).
func rowConc(rows []*row, conc int) int {
	for _, r := range rows {
		if r.name == rowArbiter && (conc == 1) == (r.conc == 1) {
			return r.conc
		}
	}
	return conc
}

// roundRatios pairs the runs of row name and of fcgiwrap at concurrency c
// round by round (measured close together) and returns name/fcgiwrap
// req/s per round.
func roundRatios(rows []*row, name string, c int) []float64 {
	a, f := find(rows, name, c), find(rows, rowFcgiwrap, c)
	if a == nil || f == nil {
		return nil
	}
	var out []float64
	for i := range min(len(a.runs), len(f.runs)) {
		if f.runs[i].ReqPerSec > 0 {
			out = append(out, a.runs[i].ReqPerSec/f.runs[i].ReqPerSec)
		}
	}
	return out
}

// verdict compares arbiter's req/s with fcgiwrap's at concurrency conc:
// the ratio, and "PASS", "MISS" or "n/a" (a row missing, failed or with
// errors).
func verdict(rows []*row, conc int) (ratio float64, word string) {
	a, f := find(rows, rowArbiter, conc), find(rows, rowFcgiwrap, conc)
	if !a.ok() || !f.ok() {
		return 0, "n/a"
	}
	ratio = a.res.ReqPerSec / f.res.ReqPerSec
	if ratio >= target {
		return ratio, "PASS"
	}
	return ratio, "MISS"
}

// printSummary writes the ratio against the target at concurrency conc,
// then the spawn cost per request from the concurrency-1 rows.
func printSummary(w io.Writer, rows []*row, conc int) {
	ratio, word := verdict(rows, conc)
	if word == "n/a" {
		fmt.Fprintf(w, "arbiter / fcgiwrap req/s at concurrency %d: n/a (a row failed or had errors); target >= %.1f\n", conc, target)
	} else {
		fmt.Fprintf(w, "arbiter / fcgiwrap req/s at concurrency %d: %.2f; target >= %.1f: %s\n", conc, ratio, target, word)
	}
	if m, f := find(rows, rowMinimal, conc), find(rows, rowFcgiwrap, conc); m.ok() && f.ok() {
		fmt.Fprintf(w, "minimal Go gateway / fcgiwrap req/s at concurrency %d: %.2f (a Go gateway that only spawns the script: about the most a Go gateway reaches here)\n",
			conc, m.res.ReqPerSec/f.res.ReqPerSec)
	}

	fmt.Fprintf(w, "\nspawn cost per request, concurrency 1 (mean time per request = 1/(req/s)):\n")
	mean := map[string]time.Duration{}
	for _, name := range []string{rowArbiter, rowFcgiwrap, rowBare} {
		r := find(rows, name, 1)
		if !r.ok() {
			fmt.Fprintf(w, "  %-22s n/a\n", name)
			continue
		}
		m, _ := meanPerRequest(r.res)
		mean[name] = m
		fmt.Fprintf(w, "  %-22s %s\n", name, benchkit.FmtDur(m))
	}
	a, okA := mean[rowArbiter]
	f, okF := mean[rowFcgiwrap]
	b, okB := mean[rowBare]
	if okA && okB {
		fmt.Fprintf(w, "  %-22s %s (nginx, FastCGI and arbiter's own work around the exec)\n", "arbiter - bare", benchkit.FmtDur(a-b))
	}
	if okF && okB {
		fmt.Fprintf(w, "  %-22s %s (nginx, FastCGI and fcgiwrap's own work around the exec)\n", "fcgiwrap - bare", benchkit.FmtDur(f-b))
	}
	if okA && okF {
		fmt.Fprintf(w, "  arbiter / fcgiwrap req/s at concurrency 1: %.2f\n", float64(f)/float64(a))
	}
}
