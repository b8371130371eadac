package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

// Row names; a row is named by its app and one of these.
const (
	rArbiter      = "arbiter http"
	rArbiterSlow  = "arbiter http + slow clients"
	rNginxArbUw   = "nginx > arbiter uwsgi"
	rNginxArbFcgi = "nginx > arbiter fastcgi keep-conn"
	rGthread      = "gunicorn gthread"
	rSync         = "gunicorn sync"
	rSyncSlow     = "gunicorn sync + slow clients"
	rUwsgiHTTP    = "uwsgi --http-socket"
	rUwsgiHTTP11  = "uwsgi --http11-socket"
	rNginxUwsgi   = "nginx > uwsgi"
	rMinFront     = "minimal go front"
	rNginxMinUw   = "nginx > minimal go front uwsgi"
)

// row is one configuration: wrk against one server, directly or through
// nginx, with or without the slow clients, measured once per round.
type row struct {
	app, name string
	addr      string // host:port wrk connects to
	path      string
	nginx     bool // the request passes nginx: its CPU counts too
	slow      bool // the slow clients are connected meanwhile
	runs      []sample
	sample    // the median of runs (see pick)
	err       error
}

// sample is what one measured run gave.
type sample struct {
	res       benchkit.Result
	cpu       [nRoles]time.Duration // CPU time of the measured processes, by role
	other     float64               // share of the machine's CPU time that went to other processes
	steal     float64               // of other: the hypervisor's, given to other guests
	slowOpen  [2]int                // slow connections open when wrk started and ended
	slowEnded int64                 // slow connections the server closed during the run
}

// pick sets the row's sample to the median run by req/s (the lower middle
// one of an even number), so that one run slowed by other work on the
// machine does not decide the row.
func (r *row) pick() {
	if len(r.runs) == 0 {
		return
	}
	sorted := slices.Clone(r.runs)
	slices.SortFunc(sorted, func(a, b sample) int { return cmp.Compare(a.res.ReqPerSec, b.res.ReqPerSec) })
	r.sample = sorted[(len(sorted)-1)/2]
}

// printRounds lists the req/s of every run of each row, in order.
func printRounds(w io.Writer, rows []*row) {
	fmt.Fprintf(w, "req/s of each round (steal):\n")
	for _, r := range rows {
		var parts []string
		for _, s := range r.runs {
			parts = append(parts, fmt.Sprintf("%.0f (%.0f%%)", s.res.ReqPerSec, 100*s.steal))
		}
		fmt.Fprintf(w, "  %-42s %s\n", r.key(), strings.Join(parts, "  "))
	}
	fmt.Fprintln(w)
}

func (r *row) key() string { return r.app + "/" + r.name }

func (r *row) url() string { return "http://" + r.addr + r.path }

// ratio compares the req/s of two rows of one app against a target (0:
// for information).
type ratio struct {
	app, num, den string
	target        float64
}

// ratios are issue 13's targets, then comparisons for information.
var ratios = []ratio{
	{"hello", rArbiter, rGthread, 2},
	{"hello", rArbiter, rUwsgiHTTP, 1},
	{"hello", rNginxArbUw, rNginxUwsgi, 1},
	{"flask", rArbiter, rGthread, 1.3},
	{"hello", rArbiterSlow, rArbiter, 0.8},
	{"hello", rSyncSlow, rSync, 0},
	{"hello", rArbiter, rUwsgiHTTP11, 0},
	{"hello", rNginxArbFcgi, rNginxUwsgi, 0},
	{"flask", rArbiter, rUwsgiHTTP, 0},
	{"flask", rNginxArbUw, rNginxUwsgi, 0},
	// What the design allows (minfront), and how near arbiter comes to it.
	{"hello", rMinFront, rGthread, 0},
	{"hello", rMinFront, rUwsgiHTTP, 0},
	{"hello", rNginxMinUw, rNginxUwsgi, 0},
	{"flask", rMinFront, rGthread, 0},
	{"hello", rArbiter, rMinFront, 0},
	{"hello", rNginxArbUw, rNginxMinUw, 0},
	{"flask", rArbiter, rMinFront, 0},
}

// procRSS is the idle resident memory of one server's processes.
type procRSS struct {
	app, server string
	appProcs    []int64 // the processes that run the app (Python, or uWSGI's workers)
	others      []int64 // the rest: arbiter's master and worker, gunicorn's or uWSGI's master
}

// printRows writes one line per row.
func printRows(w io.Writer, rows []*row) {
	width := len("row")
	for _, r := range rows {
		width = max(width, len(r.key()))
	}
	fmt.Fprintf(w, "%-*s  %8s  %9s  %7s  %8s  %-14s  %6s  %6s  %s\n", width, "row", "req/s", "p99", "errors", "cpu/req", "app+rest+nginx", "other", "steal", "slow clients open (start, end), closed by the server")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(w, "%-*s  failed: %s\n", width, r.key(), benchkit.FirstLine(r.err))
			continue
		}
		slow := ""
		if r.slow {
			slow = fmt.Sprintf("%d, %d; %d", r.slowOpen[0], r.slowOpen[1], r.slowEnded)
		}
		var parts []string
		for _, d := range r.cpu {
			parts = append(parts, "0")
			if r.res.Requests > 0 {
				parts[len(parts)-1] = strconv.FormatInt((d / time.Duration(r.res.Requests)).Microseconds(), 10)
			}
		}
		fmt.Fprintf(w, "%-*s  %8.0f  %9s  %7d  %8s  %-14s  %5.0f%%  %5.0f%%  %s\n", width, r.key(), r.res.ReqPerSec,
			benchkit.FmtDur(r.res.P99), r.res.Errors, benchkit.FmtDur(r.res.CPUPerRequest()), strings.Join(parts, "+"), 100*r.other, 100*r.steal, slow)
	}
}

// printRatios writes each ratio with its verdict: met, MISSED, or why
// there is none (a row missing or failed, or with errors: a fast row full
// of errors proves nothing).
func printRatios(w io.Writer, rows []*row) {
	byKey := map[string]*row{}
	for _, r := range rows {
		byKey[r.key()] = r
	}
	labels := make([]string, len(ratios))
	width := len("ratio of req/s")
	for i, q := range ratios {
		labels[i] = q.app + ": " + q.num + " / " + q.den
		width = max(width, len(labels[i]))
	}
	fmt.Fprintf(w, "%-*s  %5s  %s\n", width, "ratio of req/s", "value", "target")
	for i, q := range ratios {
		num, den := byKey[q.app+"/"+q.num], byKey[q.app+"/"+q.den]
		val, verdict := "n/a", "no data"
		if num != nil && den != nil && num.err == nil && den.err == nil && den.res.ReqPerSec > 0 {
			v := num.res.ReqPerSec / den.res.ReqPerSec
			val = fmt.Sprintf("%.2f", v)
			switch {
			case num.res.Errors > 0 || den.res.Errors > 0:
				verdict = "not judged: errors"
			case v >= q.target:
				verdict = "met"
			default:
				verdict = "MISSED"
			}
		}
		target := "(for information)"
		if q.target > 0 {
			target = fmt.Sprintf(">= %.1f %s", q.target, verdict)
		}
		fmt.Fprintf(w, "%-*s  %5s  %s%s\n", width, labels[i], val, target, roundRatios(num, den))
	}
}

// roundRatios is the ratio within each round, when both rows ran every
// round: the two were measured minutes apart, not a whole run, so their
// spread shows how much of the median ratio is the machine.
func roundRatios(num, den *row) string {
	if num == nil || den == nil || len(num.runs) < 2 || len(num.runs) != len(den.runs) {
		return ""
	}
	var parts []string
	for i, d := range den.runs {
		if d.res.ReqPerSec <= 0 {
			return ""
		}
		parts = append(parts, fmt.Sprintf("%.2f", num.runs[i].res.ReqPerSec/d.res.ReqPerSec))
	}
	return "  rounds: " + strings.Join(parts, " ")
}

// printRSS writes each server's idle memory: its app processes one by
// one, and the number and sum of the others.
func printRSS(w io.Writer, all []procRSS) {
	width := len("idle RSS, MiB")
	for _, m := range all {
		width = max(width, len(m.app+"/"+m.server))
	}
	fmt.Fprintf(w, "%-*s  %-24s  %s\n", width, "idle RSS, MiB", "each app process", "other processes: number, sum")
	for _, m := range all {
		var each []string
		for _, b := range m.appProcs {
			each = append(each, mib(b))
		}
		var sum int64
		for _, b := range m.others {
			sum += b
		}
		fmt.Fprintf(w, "%-*s  %-24s  %d, %s\n", width, m.app+"/"+m.server, strings.Join(each, " "), len(m.others), mib(sum))
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
