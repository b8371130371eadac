package main

import (
	"context"
	"os"
	"path/filepath"
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

func TestCPUPerRequest(t *testing.T) {
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
