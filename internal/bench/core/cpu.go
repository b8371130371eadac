package main

import (
	"fmt"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// The benchmark shares the machine with whatever else runs on it. To tell
// a real difference from a neighbour's load, each measurement also records
// how much of the CPUs went to processes other than the server under test,
// wrk and the benchmark itself.

// cpuSnap is a point-in-time reading of CPU time counters.
type cpuSnap struct {
	busy, total int64         // all CPUs, from /proc/stat, in ticks
	servers     int64         // the servers' processes, in ticks
	self, kids  time.Duration // this process, and its reaped children (wrk)
	at          time.Time
}

// takeSnap reads the counters; pids are the server's processes. A pid
// that has gone away counts as zero.
func takeSnap(pids []int) (cpuSnap, error) {
	s := cpuSnap{at: time.Now()}
	var err error
	c, err := procfs.CPU()
	if err != nil {
		return cpuSnap{}, fmt.Errorf("cpu time: %w", err)
	}
	s.busy, s.total = c.Busy, c.Total
	for _, pid := range pids {
		s.servers += procfs.CPUTicks(pid)
	}
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		return cpuSnap{}, fmt.Errorf("cpu time: %w", err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		return cpuSnap{}, fmt.Errorf("cpu time: %w", err)
	}
	s.self = rusageTime(self)
	s.kids = rusageTime(kids)
	return s, nil
}

func rusageTime(r syscall.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// otherShare is the fraction of the CPUs' time between a and b that went
// to other processes: all busy time minus the servers', wrk's (the only
// child reaped meanwhile) and the benchmark's own. It is 0 when nothing
// was measured and never negative (the counters tick at different times).
func otherShare(a, b cpuSnap) float64 {
	total := b.total - a.total
	if total <= 0 {
		return 0
	}
	tick := procfs.Tick
	ours := time.Duration(b.servers-a.servers)*tick + (b.self - a.self) + (b.kids - a.kids)
	other := time.Duration(b.busy-a.busy)*tick - ours
	return max(0, float64(other)/float64(time.Duration(total)*tick))
}

// serverCores is how many CPUs the servers kept busy on average between a
// and b (1.5: one and a half).
func serverCores(a, b cpuSnap) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return float64(time.Duration(b.servers-a.servers)*procfs.Tick) / float64(wall)
}
