package main

import (
	"os"
	"testing"
	"time"
)

func TestCPUDelta(t *testing.T) {
	ms := time.Millisecond
	a := cpuSnap{busy: 1000, total: 3000, steal: 100, self: 10 * ms, procs: map[int]procTick{
		1: {roleFront, 50}, 2: {roleApp, 30}, 3: {roleApp, 5}, 5: {roleNginx, 7}}}
	// 400 ticks passed, 200 busy: pid 1 +20, pid 2 +10, pid 4 new with 10,
	// pid 5 +5, pid 3 gone; wrk 500 ms (50 ticks), this process 100 ms (10
	// ticks): the rest is 200-45-50-10 = 95 ticks of 400, 20 of them
	// stolen.
	b := cpuSnap{busy: 1200, total: 3400, steal: 120, self: 110 * ms, kids: 500 * ms, procs: map[int]procTick{
		1: {roleFront, 70}, 2: {roleApp, 40}, 4: {roleApp, 10}, 5: {roleNginx, 12}}}
	byRole, other, steal := cpuDelta(a, b)
	if want := [nRoles]time.Duration{200 * ms, 200 * ms, 50 * ms}; byRole != want || other < 0.2374 || other > 0.2376 || steal != 0.05 {
		t.Errorf("cpuDelta = %v, %v, %v; want %v, 0.2375, 0.05", byRole, other, steal, want)
	}
	b.busy = 1050 // less busy than what was accounted for: skew, not negative
	if _, other, _ := cpuDelta(a, b); other != 0 {
		t.Errorf("skewed counters: other = %v", other)
	}
	if _, other, steal := cpuDelta(a, a); other != 0 || steal != 0 {
		t.Errorf("no time: other = %v, steal = %v", other, steal)
	}
}

func TestAppProc(t *testing.T) {
	self := os.Getpid()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if appProc(self, self, "/no/arbiter") {
		t.Error("the group's leader counted as an app process")
	}
	if appProc(self, 1, exe) {
		t.Error("a process running the arbiter binary counted as an app process")
	}
	if !appProc(self, 1, "/no/arbiter") {
		t.Error("a member that is neither the leader nor arbiter not counted as an app process")
	}
}
