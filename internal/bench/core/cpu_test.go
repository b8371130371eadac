package main

import (
	"os"
	"testing"
	"time"
)

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
