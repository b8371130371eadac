package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var lats []time.Duration
	for i := 100; i >= 1; i-- { // 1ms … 100ms, unsorted
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	r := summarize(lats, 2, 4*time.Second)
	want := result{Requests: 100, Errors: 2, Elapsed: 4 * time.Second, ReqPerSec: 25,
		P50: 50 * time.Millisecond, P99: 99 * time.Millisecond}
	if r != want {
		t.Errorf("got %+v, want %+v", r, want)
	}
	if r := summarize(nil, 0, time.Second); r.ReqPerSec != 0 || r.Requests != 0 {
		t.Errorf("no runs: %+v", r)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one: %v", got)
	}
	if _, err := meanPerRequest(result{}); err == nil {
		t.Error("meanPerRequest of nothing: no error")
	}
	if m, _ := meanPerRequest(result{ReqPerSec: 500}); m != 2*time.Millisecond {
		t.Errorf("meanPerRequest(500/s) = %v", m)
	}
}

// TestBareExec runs the loop briefly against the benchmark's script and a
// script whose output is not a CGI header: the first has no errors, the
// second only errors.
func TestBareExec(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "hello.sh")
	bad := filepath.Join(dir, "bad.sh")
	if err := os.WriteFile(good, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho nope\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := bareExec(context.Background(), good, 2, 200*time.Millisecond)
	if r.Requests == 0 || r.Errors != 0 || r.ReqPerSec <= 0 || r.P99 < r.P50 {
		t.Errorf("good script: %+v", r)
	}
	r = bareExec(context.Background(), bad, 1, 100*time.Millisecond)
	if r.Requests == 0 || r.Errors != r.Requests {
		t.Errorf("bad script: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := bareExec(ctx, good, 1, time.Minute); r.Requests != 0 {
		t.Errorf("cancelled: %d runs", r.Requests)
	}
}

func TestPgrpOf(t *testing.T) {
	pg, err := pgrpOf(os.Getpid())
	if err != nil || pg != syscall.Getpgrp() {
		t.Errorf("pgrpOf(self) = %d, %v; want %d", pg, err, syscall.Getpgrp())
	}
	if _, err := pgrpOf(-1); err == nil {
		t.Error("pgrpOf(-1): no error")
	}
}

func TestParseProcStat(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     time.Duration
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{"busy", "cpu  100 2 30 5000 70 4 5 6 0 0\ncpu0 50 1 15 2500 35 2 2 3 0 0\n", 147 * clockTick},
		{"no guest fields", "cpu  1 0 1 9 9 0 0 0\n", 2 * clockTick},
		{"short", "cpu  1 2 3\n", 0},
		{"not cpu", "intr 1 2 3 4 5 6 7 8 9\n", 0},
		{"garbage", "cpu  a b c d e f g h i\n", 0},
		{"empty", "", 0},
	} {
		if got := parseProcStat(tt.in); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if machineCPU() <= 0 {
		t.Error("machineCPU: nothing read from /proc/stat")
	}
	if r := (result{Requests: 4, CPU: 8 * time.Millisecond}); r.CPUPerRequest() != 2*time.Millisecond {
		t.Errorf("cpuPerRequest = %v", r.CPUPerRequest())
	}
	if (result{CPU: time.Second}).CPUPerRequest() != 0 {
		t.Error("cpuPerRequest without requests is not 0")
	}
}
