package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

func TestPrintRatios(t *testing.T) {
	run := func(rps float64, errs int64) sample {
		return sample{res: benchkit.Result{Requests: 100, ReqPerSec: rps, P99: 3 * time.Millisecond, Errors: errs, CPU: 10 * time.Millisecond}}
	}
	split := run(30000, 0)
	split.cpu = [nRoles]time.Duration{4 * time.Millisecond, 5 * time.Millisecond, time.Millisecond}
	split.steal = 0.25
	slow := run(27000, 0)
	slow.slowOpen, slow.slowEnded = [2]int{1000, 998}, 1000
	rows := []*row{
		// The median of three runs, and the lower middle one of two.
		{app: "hello", name: rArbiter, runs: []sample{run(31000, 0), split, run(12000, 0)}},
		{app: "hello", name: rGthread, runs: []sample{run(18000, 0)}},
		{app: "hello", name: rUwsgiHTTP, runs: []sample{run(13500, 0)}},
		{app: "hello", name: rArbiterSlow, slow: true, runs: []sample{slow}},
		{app: "hello", name: rSync, runs: []sample{run(4000, 0)}},
		{app: "hello", name: rSyncSlow, slow: true, runs: []sample{run(40, 120)}},
		{app: "hello", name: rNginxArbUw, runs: []sample{run(9000, 3)}},
		{app: "hello", name: rNginxUwsgi, runs: []sample{run(8000, 0)}},
		{app: "flask", name: rArbiter, runs: []sample{run(10400, 0)}},
		{app: "flask", name: rGthread, runs: []sample{run(9900, 0), run(9400, 0)}},
		{app: "flask", name: rUwsgiHTTP, err: errors.New("uwsgi: exited before accepting\nits log")},
		{app: "hello", name: rMinFront, runs: []sample{run(31000, 0), run(25000, 0), run(16000, 0)}},
	}
	for _, r := range rows {
		r.pick()
	}
	var buf bytes.Buffer
	printRatios(&buf, rows)
	got := map[string]string{}
	for _, l := range strings.Split(buf.String(), "\n") {
		if label, rest, ok := strings.Cut(l, "  "); ok && strings.Contains(label, " / ") {
			got[label] = strings.Join(strings.Fields(rest), " ")
		}
	}
	for label, want := range map[string]string{
		"hello: arbiter http / gunicorn gthread":                   "1.67 >= 2.0 MISSED",
		"hello: arbiter http / uwsgi --http-socket":                "2.22 >= 1.0 met",
		"hello: nginx > arbiter uwsgi / nginx > uwsgi":             "1.12 >= 1.0 not judged: errors",
		"flask: arbiter http / gunicorn gthread":                   "1.11 >= 1.3 MISSED",
		"hello: arbiter http + slow clients / arbiter http":        "0.90 >= 0.8 met",
		"hello: gunicorn sync + slow clients / gunicorn sync":      "0.01 (for information)",
		"hello: arbiter http / uwsgi --http11-socket":              "n/a (for information)",
		"flask: arbiter http / uwsgi --http-socket":                "n/a (for information)",
		"hello: nginx > arbiter fastcgi keep-conn / nginx > uwsgi": "n/a (for information)",
		// Rows that ran in every round: each round's own ratio too.
		"hello: arbiter http / minimal go front": "1.20 (for information) rounds: 1.00 1.20 0.75",
	} {
		if got[label] != want {
			t.Errorf("%s: %q, want %q\n%s", label, got[label], want, buf.String())
		}
	}

	buf.Reset()
	printRows(&buf, rows)
	out := buf.String()
	for _, want := range []string{
		"hello/arbiter http + slow clients",
		"1000, 998; 1000",              // the slow clients' counts
		"failed: uwsgi: exited before", // the first line of a failure only
		"100µs  40+50+10",              // 10 ms of CPU over 100 requests, by role
		"3.00ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rows lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "its log") {
		t.Errorf("a failure's later lines in the table:\n%s", out)
	}

	buf.Reset()
	printRounds(&buf, rows)
	if !strings.Contains(buf.String(), "31000 (0%)  30000 (25%)  12000 (0%)\n") {
		t.Errorf("rounds not listed in order, each with its steal:\n%s", buf.String())
	}
}

func TestPrintRSS(t *testing.T) {
	var buf bytes.Buffer
	printRSS(&buf, []procRSS{{app: "hello", server: "arbiter", appProcs: []int64{13 << 20, 14 << 20}, others: []int64{11 << 20, 17 << 20}}})
	if !strings.Contains(buf.String(), "13.0 14.0") || !strings.Contains(buf.String(), "2, 28.0") {
		t.Errorf("RSS table:\n%s", buf.String())
	}
}

func TestAnswerPID(t *testing.T) {
	for _, tt := range []struct {
		app, body string
		want      int
	}{
		{"hello", "hello from 4242\n", 4242},
		{"flask", `{"greeting":"hello bench","pid":77}` + "\n", 77},
		{"hello", "hello from \n", 0},
		{"hello", "hi from 12\n", 0},
		{"hello", "hello from -3\n", 0},
		{"flask", `{"greeting":"hello other","pid":77}`, 0},
		{"flask", `{"greeting":"hello bench"}`, 0},
		{"flask", `<html>502</html>`, 0},
	} {
		got, err := answerPID(tt.app, []byte(tt.body))
		if got != tt.want || (err == nil) != (tt.want > 0) {
			t.Errorf("answerPID(%s, %q) = %d, %v; want %d", tt.app, tt.body, got, err, tt.want)
		}
	}
}
