package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMedianMax(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	tests := []struct {
		in       []time.Duration
		med, max time.Duration
	}{
		{nil, 0, 0},
		{ms(3), 3 * time.Millisecond, 3 * time.Millisecond},
		{ms(9, 1, 5, 3, 7), 5 * time.Millisecond, 9 * time.Millisecond},
		{ms(4, 2), 3 * time.Millisecond, 4 * time.Millisecond},
	}
	for _, tt := range tests {
		in := append([]time.Duration(nil), tt.in...)
		med, hi := medianMax(in)
		if med != tt.med || hi != tt.max {
			t.Errorf("medianMax(%v) = %v, %v; want %v, %v", tt.in, med, hi, tt.med, tt.max)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Errorf("medianMax reordered its argument")
			}
		}
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		arb, base float64
		want      string
	}{
		{95, 100, "0.95 PASS"},
		{90, 100, "0.90 PASS"},
		{89, 100, "0.89 MISS"},
		{120, 100, "1.20 PASS"},
		{10, 0, "n/a"},
	}
	for _, tt := range tests {
		if got := verdict(tt.arb, tt.base); !strings.HasPrefix(got, tt.want) {
			t.Errorf("verdict(%v, %v) = %q, want %q...", tt.arb, tt.base, got, tt.want)
		}
	}
}

func TestWarmupFor(t *testing.T) {
	tests := []struct{ d, want time.Duration }{
		{time.Second, time.Second},
		{5 * time.Second, time.Second},
		{10 * time.Second, 2 * time.Second},
		{time.Minute, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := warmupFor(tt.d); got != tt.want {
			t.Errorf("warmupFor(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestReportPrint(t *testing.T) {
	rep := report{
		duration: 5 * time.Second, warmup: time.Second, cpus: 2, loadavg: "0.1 0.2 0.3", elapsed: 31 * time.Second,
		apps: []appResult{{
			app:        "echo",
			base:       measurement{wrkResult{Requests: 500000, DurationUS: 5e6, P50US: 800, P99US: 7000}, 0.95, 0.02},
			arb:        measurement{wrkResult{Requests: 400000, DurationUS: 5e6, P50US: 700, P99US: 5000, Status: 2}, 1.1, 0.25},
			gomaxprocs: 2, baseRSS: 15 << 20, masterRSS: 10 << 20,
			workerRSS: map[int]int64{2: 17 << 20, 1: 16 << 20},
			ttin:      []time.Duration{4 * time.Millisecond, 5 * time.Millisecond, 3 * time.Millisecond},
		}},
	}
	var b bytes.Buffer
	rep.print(&b)
	out := b.String()
	quiet := rep
	quiet.apps = []appResult{rep.apps[0]}
	quiet.apps[0].arb.other = 0.05
	b.Reset()
	quiet.print(&b)
	if strings.Contains(b.String(), "WARNING") {
		t.Errorf("warning with 5%% of other load:\n%s", b.String())
	}
	for _, want := range []string{
		"nothing pinned", "GOMAXPROCS=2",
		"echo      net/http     100000    0.80ms    7.00ms       0     0.95     2%",
		"echo      arbiter       80000    0.70ms    5.00ms       2     1.10    25%  0.80 MISS",
		"WARNING: other processes used up to 25% of the CPUs",
		"echo      median 4.00ms, max 5.00ms",
		"master 10.0 MiB, worker 1 16.0 MiB, worker 2 17.0 MiB; net/http process 15.0 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWithoutEnv(t *testing.T) {
	got := withoutEnv([]string{"A=1", "GOMAXPROCS=8", "GOMAXPROCSX=1", "B=", "PORT=80"}, "GOMAXPROCS", "PORT")
	if strings.Join(got, " ") != "A=1 GOMAXPROCSX=1 B=" {
		t.Errorf("withoutEnv = %q", got)
	}
}
