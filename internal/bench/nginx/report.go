package main

import (
	"fmt"
	"io"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

// row is one configuration measured behind nginx.
type row struct {
	name     string // shown in the table; also the nginx location
	server   string // "arbiter" or "baseline"
	listener string // the arbiter listener's protocol, or "fastcgi" for the baseline
	reuse    bool   // nginx keeps upstream connections (keep-conn / keepalive)
	location string // location body, {{up}} = host:port or upstream block name
	result   wrkResult
	err      error
}

// ratio compares two rows against a target.
type ratio struct {
	num, den string
	target   float64
}

// ratios are the targets of issue 3: FastCGI with keep-conn at least twice
// net/http/fcgi with keep-conn; every protocol at least 0.9 of arbiter's own
// HTTP behind nginx with the same connection reuse.
var ratios = []ratio{
	{"arbiter-fastcgi-keepconn", "nethttp-fcgi-keepconn", 2},
	{"arbiter-fastcgi", "nethttp-fcgi", 0},
	{"arbiter-fastcgi-keepconn", "arbiter-http-keepalive", 0.9},
	{"arbiter-fastcgi", "arbiter-http", 0.9},
	{"arbiter-scgi", "arbiter-http", 0.9},
	{"arbiter-uwsgi", "arbiter-http", 0.9},
}

// printTable writes the measurements and the ratios.
func printTable(w io.Writer, rows []*row) {
	width := len("row")
	for _, r := range rows {
		width = max(width, len(r.name))
	}
	fmt.Fprintf(w, "%-*s  %5s  %9s  %9s  %6s\n", width, "row", "reuse", "req/s", "p99", "errors")
	for _, r := range rows {
		reuse := "no"
		if r.reuse {
			reuse = "yes"
		}
		if r.err != nil {
			fmt.Fprintf(w, "%-*s  %5s  failed: %s\n", width, r.name, reuse, benchkit.FirstLine(r.err))
			continue
		}
		fmt.Fprintf(w, "%-*s  %5s  %9.0f  %9s  %6d\n", width, r.name, reuse,
			r.result.ReqPerSec, benchkit.FmtDur(r.result.P99), r.result.Errors)
	}
	fmt.Fprintln(w)
	byName := map[string]*row{}
	for _, r := range rows {
		byName[r.name] = r
	}
	labels := make([]string, len(ratios))
	width = len("ratio of req/s")
	for i, q := range ratios {
		labels[i] = q.num + " / " + q.den
		width = max(width, len(labels[i]))
	}
	fmt.Fprintf(w, "%-*s  %5s  %s\n", width, "ratio of req/s", "value", "target")
	for i, q := range ratios {
		v, ok := ratioOf(byName[q.num], byName[q.den])
		val := "n/a"
		if ok {
			val = fmt.Sprintf("%.2f", v)
		}
		target := "(for information)"
		if q.target > 0 {
			verdict := "no data"
			switch {
			case !ok:
			case v >= q.target:
				verdict = "met"
			default:
				verdict = "MISSED"
			}
			target = fmt.Sprintf(">= %.1f %s", q.target, verdict)
		}
		fmt.Fprintf(w, "%-*s  %5s  %s\n", width, labels[i], val, target)
	}
}

// ratioOf is num's req/s over den's; false when either is missing, failed
// or had errors (a fast row full of errors proves nothing).
func ratioOf(num, den *row) (float64, bool) {
	if num == nil || den == nil || num.err != nil || den.err != nil ||
		num.result.Errors > 0 || den.result.Errors > 0 || den.result.ReqPerSec == 0 {
		return 0, false
	}
	return num.result.ReqPerSec / den.result.ReqPerSec, true
}
