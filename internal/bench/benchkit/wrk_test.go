package benchkit

import (
	"strings"
	"testing"
	"time"
)

const wrkSample = `Running 10s test @ http://127.0.0.1:40123/arbiter/cgi-bin/hello.sh
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    28.01ms   30.20ms 304.16ms   89.12%
    Req/Sec   289.10     61.73   440.00     70.00%
  Latency Distribution
     50%   17.02ms
     75%   33.64ms
     90%   61.11ms
     99%  304.16ms
  5761 requests in 10.02s, 1.01MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:    574.93
Transfer/sec:    103.31KB
`

func TestParseWrk(t *testing.T) {
	clean := strings.NewReplacer("  Socket errors: connect 1, read 2, write 3, timeout 4\n", "",
		"  Non-2xx or 3xx responses: 7\n", "").Replace(wrkSample)
	for _, tt := range []struct {
		name string
		out  string
		want Result
		ok   bool
	}{
		{"with errors", wrkSample, Result{Requests: 5761, Elapsed: 10020 * time.Millisecond, ReqPerSec: 574.93,
			P50: 17020 * time.Microsecond, P99: 304160 * time.Microsecond, Errors: 17}, true},
		{"clean, µs and s", strings.NewReplacer("17.02ms", "812.50us", "304.16ms", "1.50s").Replace(clean),
			Result{Requests: 5761, Elapsed: 10020 * time.Millisecond, ReqPerSec: 574.93,
				P50: 812500 * time.Nanosecond, P99: 1500 * time.Millisecond}, true},
		{"no 50%", strings.Replace(wrkSample, "50%", "51%", 1), Result{}, false},
		{"no 99%", strings.Replace(wrkSample, "99%", "98%", 1), Result{}, false},
		{"no req/s", strings.Replace(wrkSample, "Requests/sec", "Reqs", 1), Result{}, false},
		{"no request count", strings.Replace(wrkSample, "requests in", "reqs in", 1), Result{}, false},
		{"bad latency", strings.Replace(wrkSample, "17.02ms", "fast", 1), Result{}, false},
		{"bad run length", strings.Replace(wrkSample, "10.02s", "10.02x", 1), Result{}, false},
		{"empty", "", Result{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWrk(tt.out)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
			if tt.ok && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
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
		{"10.02s", 10020 * time.Millisecond, true},
		{"1.50m", 90 * time.Second, true},
		{"1h", time.Hour, true},
		{"-1ms", 0, false},
		{"12", 0, false},
		{"ms", 0, false},
		{"", 0, false},
	} {
		got, err := ParseWrkDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%q: %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
