package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

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
