package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		ok      bool
		msg     string
		pid     int
		address string
	}{
		{"worker ready keeps the last pid",
			`{"level":"info","pid":100,"worker":1,"pid":200,"generation":1,"boot":3.7,"message":"worker ready"}`,
			true, "worker ready", 200, ""},
		{"listening",
			`{"level":"info","pid":7,"address":"127.0.0.1:38193","protocol":"http","message":"listening"}`,
			true, "listening", 7, "127.0.0.1:38193"},
		{"nested values", `{"a":{"b":[1,2]},"message":"x"}`, true, "x", 0, ""},
		{"empty object", `{}`, true, "", 0, ""},
		{"not JSON", `goroutine 1 [running]:`, false, "", 0, ""},
		{"array", `[1,2]`, false, "", 0, ""},
		{"blank", ``, false, "", 0, ""},
		{"truncated", `{"pid":1,"message":"wor`, false, "", 0, ""},
		{"trailing data", `{"pid":1} {"pid":2}`, false, "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := parseLogLine([]byte(tt.line))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if e.msg() != tt.msg || e.str("address") != tt.address {
				t.Errorf("msg %q address %q, want %q %q", e.msg(), e.str("address"), tt.msg, tt.address)
			}
			pid, ok := e.num("pid")
			if ok != (tt.pid != 0) || pid != tt.pid {
				t.Errorf("pid = %d, %v; want %d", pid, ok, tt.pid)
			}
		})
	}
}

func TestLogEntryWrongTypes(t *testing.T) {
	e, err := parseLogLine([]byte(`{"worker":"one","message":3,"pid":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.num("worker"); ok {
		t.Error(`num("worker") accepted a string`)
	}
	if _, ok := e.num("pid"); ok {
		t.Error(`num("pid") accepted 1.5`)
	}
	if e.msg() != "" {
		t.Errorf("msg() = %q for a number", e.msg())
	}
}

func FuzzParseLogLine(f *testing.F) {
	f.Add([]byte(`{"level":"info","pid":1,"worker":2,"pid":3,"message":"worker ready"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := parseLogLine(line)
		if err != nil {
			return
		}
		if !json.Valid(line) {
			t.Fatalf("accepted invalid JSON %q", line)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("accepted %q, which is not an object: %v", line, err)
		}
		for k, v := range m { // encoding/json keeps the last of duplicate keys, as str and num do
			vs := e.fields[k]
			if len(vs) == 0 || string(vs[len(vs)-1]) != string(v) {
				t.Fatalf("key %q: last value %q, encoding/json %q", k, vs, v)
			}
		}
	})
}

const wrkOut = `Running 2s test @ http://127.0.0.1:1/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.00ms    1.00ms  10.00ms   90.00%
  131617 requests in 2.00s, 40.00MB read
Requests/sec:  65808.50
Transfer/sec:     20.00MB
BENCHCORE {"requests":131617,"duration_us":2000000,"bytes":41943040,"connect":0,"read":1,"write":2,"status":3,"timeout":4,"p50_us":690,"p99_us":5270}
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk([]byte(wrkOut))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.rps(); got < 65808 || got > 65809 {
		t.Errorf("rps = %v", got)
	}
	if r.errors() != 10 || r.p50() != 690*time.Microsecond || r.p99() != 5270*time.Microsecond {
		t.Errorf("errors %d p50 %v p99 %v", r.errors(), r.p50(), r.p99())
	}

	bad := []string{
		"",
		"Running 2s test\nRequests/sec: 1\n",
		"BENCHCORE {\"requests\":1,\n",
		"BENCHCORE {\"requests\":1,\"extra\":2}\n",
		"BENCHCORE {\"requests\":-1,\"duration_us\":1}\n",
		"BENCHCORE {\"requests\":\"many\"}\n",
	}
	for _, s := range bad {
		if _, err := parseWrk([]byte(s)); err == nil {
			t.Errorf("parseWrk(%q) accepted it", s)
		}
	}
	if (wrkResult{Requests: 5}).rps() != 0 {
		t.Error("rps with no duration is not 0")
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add([]byte(wrkOut))
	f.Fuzz(func(t *testing.T, out []byte) {
		r, err := parseWrk(out)
		if err != nil {
			return
		}
		if r.Requests < 0 || r.DurationUS < 0 || r.errors() < 0 || r.rps() < 0 || r.p50() < 0 || r.p99() < 0 {
			t.Fatalf("accepted negative figures: %+v", r)
		}
	})
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tarbiter\nVmPeak:\t  1 kB\nVmRSS:\t   17408 kB\nRssAnon:\t 1 kB\n", 17408 << 10, true},
		{"VmRSS: 0 kB", 0, true},
		{"Name:\tkthreadd\nState:\tS\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, false},
		{"VmRSS:\tlots kB\n", 0, false},
		{"VmRSS:\t-5 kB\n", 0, false},
		{"VmRSS:\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseVmRSS(tt.status)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseVmRSS(%q) = %d, %v; want %d, ok %v", tt.status, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add("Name:\tx\nVmRSS:\t  100 kB\n")
	f.Fuzz(func(t *testing.T, status string) {
		n, err := parseVmRSS(status)
		if err != nil {
			return
		}
		if n < 0 || n%1024 != 0 || !strings.Contains(status, "VmRSS:") {
			t.Fatalf("parseVmRSS(%q) = %d", status, n)
		}
	})
}

func TestWorkerPID(t *testing.T) {
	tests := []struct {
		line string
		want int
		ok   bool
	}{
		{`{"pid":10,"worker":1,"worker_pid":11,"message":"worker ready"}`, 11, true},
		{`{"pid":10,"worker":1,"pid":12,"message":"worker ready"}`, 12, true},
		{`{"worker":1,"pid":12,"pid":10,"message":"worker ready"}`, 12, true},
		{`{"pid":10,"worker":1,"message":"worker ready"}`, 0, false},
		{`{"worker":1,"message":"worker ready"}`, 0, false},
	}
	for _, tt := range tests {
		e, err := parseLogLine([]byte(tt.line))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := workerPID(e, 10); got != tt.want || ok != tt.ok {
			t.Errorf("workerPID(%s) = %d, %v; want %d, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
