package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const wrkSample = `Running 1s test @ http://127.0.0.1:18999/nonexistent
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.89ms    0.87ms  10.77ms   94.75%
    Req/Sec     2.38k   373.98     2.74k    90.91%
  Latency Distribution
     50%  700.00us
     75%    0.92ms
     90%    1.19ms
     99%    5.26ms
  2606 requests in 1.10s, 1.29MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:   2370.56
Transfer/sec:      1.18MB
`

func TestParseWrk(t *testing.T) {
	for _, tt := range []struct {
		name string
		out  string
		want wrkResult
		ok   bool
	}{
		{"with errors", wrkSample, wrkResult{Requests: 2606, ReqPerSec: 2370.56, P99: 5260 * time.Microsecond, Errors: 17}, true},
		{"clean", strings.NewReplacer("  Socket errors: connect 1, read 2, write 3, timeout 4\n", "",
			"  Non-2xx or 3xx responses: 7\n", "", "5.26ms", "812.50us").Replace(wrkSample),
			wrkResult{Requests: 2606, ReqPerSec: 2370.56, P99: 812500 * time.Nanosecond}, true},
		{"seconds", strings.Replace(wrkSample, "5.26ms", "1.50s", 1),
			wrkResult{Requests: 2606, ReqPerSec: 2370.56, P99: 1500 * time.Millisecond, Errors: 17}, true},
		{"no latency distribution", strings.Replace(wrkSample, "99%", "98%", 1), wrkResult{}, false},
		{"no req/s", strings.Replace(wrkSample, "Requests/sec", "Reqs", 1), wrkResult{}, false},
		{"bad latency", strings.Replace(wrkSample, "5.26ms", "fast", 1), wrkResult{}, false},
		{"empty", "", wrkResult{}, false},
	} {
		got, err := parseWrk(tt.out)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v", tt.name, err)
			continue
		}
		if tt.ok && got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"700.00us", 700 * time.Microsecond, true},
		{"1.25ms", 1250 * time.Microsecond, true},
		{"2.00s", 2 * time.Second, true},
		{"1.50m", 90 * time.Second, true},
		{"1h", time.Hour, true},
		{"-1ms", 0, false},
		{"12", 0, false},
		{"ms", 0, false},
	} {
		got, err := parseWrkDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestPrintTable(t *testing.T) {
	res := func(rps float64, errs int64) wrkResult {
		return wrkResult{Requests: 1, ReqPerSec: rps, P99: 2 * time.Millisecond, Errors: errs}
	}
	rows := []*row{
		{name: "arbiter-fastcgi-keepconn", reuse: true, result: res(20000, 0)},
		{name: "nethttp-fcgi-keepconn", reuse: true, result: res(8000, 0)},
		{name: "arbiter-http-keepalive", reuse: true, result: res(25000, 0)},
		{name: "arbiter-fastcgi", result: res(9000, 0)},
		{name: "arbiter-http", result: res(10000, 0)},
		{name: "arbiter-scgi", result: res(9500, 3)},
		{name: "arbiter-uwsgi", err: errors.New("check: boom\nmore")},
	}
	var buf bytes.Buffer
	printTable(&buf, rows)
	out := buf.String()
	for _, want := range []string{"failed: check: boom", "2.00ms", "9500"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 5 && f[1] == "/" {
			got[f[0]+" / "+f[2]] = strings.Join(f[3:], " ")
		}
	}
	for label, want := range map[string]string{
		"arbiter-fastcgi-keepconn / nethttp-fcgi-keepconn":  "2.50 >= 2.0 met",
		"arbiter-fastcgi / nethttp-fcgi":                    "n/a (for information)",
		"arbiter-fastcgi-keepconn / arbiter-http-keepalive": "0.80 >= 0.9 MISSED",
		"arbiter-fastcgi / arbiter-http":                    "0.90 >= 0.9 met",
		"arbiter-scgi / arbiter-http":                       "n/a >= 0.9 no data",
		"arbiter-uwsgi / arbiter-http":                      "n/a >= 0.9 no data",
	} {
		if got[label] != want {
			t.Errorf("%s: %q, want %q\n%s", label, got[label], want, out)
		}
	}
}
