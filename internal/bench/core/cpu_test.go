package main

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestParsePidStat(t *testing.T) {
	tests := []struct {
		stat string
		want int64
		ok   bool
	}{
		{"42 (arbiter) S 1 42 42 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 9 0", 32, true},
		{"42 (a) b) (c) R 1 42 42 0 -1 0 0 0 0 0 3 4 0 0", 7, true},
		{"42 (x) S 1 2 3", 0, false},
		{"42 x S 1 42 42 0 -1 0 0 0 0 0 3 4", 0, false},
		{"42 (x) S 1 42 42 0 -1 0 0 0 0 0 3 z", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePidStat(tt.stat)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parsePidStat(%q) = %d, %v; want %d, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getpid()) + "/stat")
	if err != nil {
		t.Skip(err)
	}
	if _, err := parsePidStat(string(b)); err != nil {
		t.Errorf("this process's stat: %v", err)
	}
}

func FuzzParsePidStat(f *testing.F) {
	f.Add("42 (arbiter) S 1 42 42 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 9 0")
	f.Fuzz(func(t *testing.T, stat string) {
		if n, err := parsePidStat(stat); err == nil && n < 0 {
			t.Fatalf("parsePidStat(%q) = %d", stat, n)
		}
	})
}

func TestOtherShare(t *testing.T) {
	ms := time.Millisecond
	a := cpuSnap{busy: 1000, total: 3000, servers: 100, self: 10 * ms, kids: 0}
	tests := []struct {
		name string
		b    cpuSnap
		want float64
	}{
		// 200 ticks of 400 were busy; the servers took 100, wrk 500 ms: 50 ticks; other 50 of 400.
		{"neighbour", cpuSnap{busy: 1200, total: 3400, servers: 200, self: 10 * ms, kids: 500 * ms}, 0.125},
		{"only us", cpuSnap{busy: 1150, total: 3400, servers: 200, self: 10 * ms, kids: 500 * ms}, 0},
		{"counters skewed", cpuSnap{busy: 1100, total: 3400, servers: 250, self: 10 * ms, kids: 500 * ms}, 0},
		{"no time", a, 0},
	}
	for _, tt := range tests {
		if got := otherShare(a, tt.b); got < tt.want-1e-9 || got > tt.want+1e-9 {
			t.Errorf("%s: otherShare = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTakeSnapCountsThisProcess(t *testing.T) {
	a, err := takeSnap([]int{os.Getpid(), 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if a.total <= 0 || a.busy <= 0 || a.busy > a.total || a.self <= 0 {
		t.Errorf("snapshot %+v", a)
	}
}
