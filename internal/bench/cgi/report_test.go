package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func res(rps float64, errs int64) result {
	return result{Requests: 100, ReqPerSec: rps, P50: time.Millisecond, P99: 3 * time.Millisecond, Errors: errs,
		CPU: 45 * time.Millisecond}
}

func TestVerdict(t *testing.T) {
	for _, tt := range []struct {
		name  string
		rows  []*row
		ratio float64
		word  string
	}{
		{"pass", []*row{{name: rowArbiter, conc: 16, res: res(1200, 0)}, {name: rowFcgiwrap, conc: 16, res: res(1000, 0)}}, 1.2, "PASS"},
		{"miss", []*row{{name: rowArbiter, conc: 16, res: res(1100, 0)}, {name: rowFcgiwrap, conc: 16, res: res(1000, 0)}}, 1.1, "MISS"},
		{"errors", []*row{{name: rowArbiter, conc: 16, res: res(5000, 3)}, {name: rowFcgiwrap, conc: 16, res: res(1000, 0)}}, 0, "n/a"},
		{"failed", []*row{{name: rowArbiter, conc: 16, res: res(1200, 0)}, {name: rowFcgiwrap, conc: 16, err: errors.New("boom")}}, 0, "n/a"},
		{"other concurrency only", []*row{{name: rowArbiter, conc: 1, res: res(1200, 0)}, {name: rowFcgiwrap, conc: 16, res: res(1000, 0)}}, 0, "n/a"},
		{"nothing", nil, 0, "n/a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ratio, word := verdict(tt.rows, 16)
			if word != tt.word || (ratio-tt.ratio) > 1e-9 || (tt.ratio-ratio) > 1e-9 {
				t.Errorf("got %.3f %s, want %.3f %s", ratio, word, tt.ratio, tt.word)
			}
		})
	}
}

func TestPrintTableAndSummary(t *testing.T) {
	rows := []*row{
		{name: rowFcgiwrap, conc: 16, res: res(500, 0)},
		{name: rowArbiter, conc: 16, res: res(650, 0)},
		{name: rowFcgiwrap, conc: 1, res: res(250, 0)},     // 4 ms
		{name: rowArbiter, conc: 1, res: res(500, 0)},      // 2 ms
		{name: rowBare, conc: 1, res: res(1000, 0)},        // 1 ms
		{name: rowBare, conc: 16, err: errors.New("x\ny")}, // shown as failed, first line only
		{name: rowMinimal, conc: 16, res: res(700, 0)},
	}
	var buf bytes.Buffer
	printTable(&buf, rows)
	printSummary(&buf, rows, 16)
	out := buf.String()
	for _, want := range []string{
		"failed: x\n",
		"650.0",
		"1.00ms", "3.00ms", "450µs",
		"at concurrency 16: 1.30; target >= 1.2: PASS",
		"minimal Go gateway / fcgiwrap req/s at concurrency 16: 1.40",
		"arbiter                2.00ms",
		"fcgiwrap               4.00ms",
		"bare fork+exec (Go)    1.00ms",
		"arbiter - bare         1.00ms",
		"fcgiwrap - bare        3.00ms",
		"at concurrency 1: 2.00",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	printSummary(&buf, rows[:2], 16)
	out = buf.String()
	for _, want := range []string{"arbiter                n/a", "bare fork+exec (Go)    n/a"} {
		if !strings.Contains(out, want) {
			t.Errorf("without concurrency-1 rows, output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, " - bare") {
		t.Errorf("differences printed without the rows they need:\n%s", out)
	}
}

func TestPick(t *testing.T) {
	for _, tt := range []struct {
		name string
		rps  []float64
		want float64
	}{
		{"one", []float64{700}, 700},
		{"odd", []float64{900, 500, 700}, 700},
		{"even: lower middle", []float64{900, 500, 700, 800}, 700},
		{"none", nil, 0},
	} {
		r := &row{name: rowArbiter, conc: 16}
		for _, v := range tt.rps {
			r.runs = append(r.runs, res(v, 0))
		}
		r.pick()
		if r.res.ReqPerSec != tt.want {
			t.Errorf("%s: picked %v, want %v", tt.name, r.res.ReqPerSec, tt.want)
		}
		if len(tt.rps) > 0 && r.runs[0].ReqPerSec != tt.rps[0] {
			t.Errorf("%s: pick reordered runs", tt.name)
		}
	}
	var buf bytes.Buffer
	printRounds(&buf, []*row{{name: rowFcgiwrap, conc: 16, runs: []result{res(900, 0), res(500.25, 0)}}})
	if !strings.Contains(buf.String(), "fcgiwrap             c16  900.0  500.2") {
		t.Errorf("printRounds:\n%s", buf.String())
	}

	// Ratios pair the runs of each round; the median is the lower middle.
	buf.Reset()
	printRounds(&buf, []*row{
		{name: rowFcgiwrap, conc: 16, runs: []result{res(1000, 0), res(2000, 0), res(1000, 0)}},
		{name: rowArbiter, conc: 16, runs: []result{res(1300, 0), res(2200, 0), res(1150, 0)}},
		{name: rowFcgiwrap, conc: 1, runs: []result{res(100, 0)}},
		{name: rowArbiter, conc: 1, runs: []result{res(105, 0)}},
		{name: rowMinimal, conc: 16, runs: []result{res(1400, 0), res(2400, 0), res(1250, 0)}},
	})
	for _, want := range []string{
		"arbiter / fcgiwrap   c16  1.30  1.10  1.15  (median 1.15)",
		"arbiter / fcgiwrap   c1   1.05  (median 1.05)",
		"minimal / fcgiwrap   c16  1.40  1.20  1.25  (median 1.25)",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("printRounds: no %q in\n%s", want, buf.String())
		}
	}
}
