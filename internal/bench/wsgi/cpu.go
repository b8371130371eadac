package main

import (
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// What the processes whose CPU time a row counts do.
const (
	roleApp   = iota // run the app: Python (arbiter, gunicorn), uWSGI's workers
	roleFront        // the server's others: arbiter's master and worker, gunicorn's or uWSGI's master
	roleNginx
	nRoles
)

// appProc reports whether pid, of the server whose process group is pgid,
// runs the app: it is not the leader and not arbiter's worker (a process
// running arbiterBin).
func appProc(pid, pgid int, arbiterBin string) bool {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return pid != pgid && exe != arbiterBin
}

// cpuSnap is a reading of the CPU time counters.
type cpuSnap struct {
	busy, total int64            // all CPUs (/proc/stat), in ticks
	steal       int64            // of busy: the hypervisor's, given to other guests
	procs       map[int]procTick // the measured processes
	self, kids  time.Duration    // this process (the slow clients), and its reaped children (wrk)
}

type procTick struct {
	role  int
	ticks int64
}

// takeSnap reads the counters, with the processes of the server's process
// group and of nginx's (0: none).
func takeSnap(server, nginx int, arbiterBin string) cpuSnap {
	s := cpuSnap{procs: map[int]procTick{}}
	c, _ := procfs.CPU()
	s.busy, s.total, s.steal = c.Busy, c.Total, c.Steal
	for _, pid := range procfs.Group(server) {
		role := roleFront
		if appProc(pid, server, arbiterBin) {
			role = roleApp
		}
		s.procs[pid] = procTick{role, procfs.CPUTicks(pid)}
	}
	if nginx != 0 {
		for _, pid := range procfs.Group(nginx) {
			s.procs[pid] = procTick{roleNginx, procfs.CPUTicks(pid)}
		}
	}
	var self, kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	s.self = time.Duration(self.Utime.Nano() + self.Stime.Nano())
	s.kids = time.Duration(kids.Utime.Nano() + kids.Stime.Nano())
	return s
}

// cpuDelta is the CPU time the measured processes used from a to b, by
// role (one that started meanwhile counts from 0; one that exited is
// lost), the share of all CPUs' time that went to everything else but this
// process and wrk (never negative: the counters tick at different times),
// and the share of it the hypervisor stole: time the machine had work for
// and ran none.
func cpuDelta(a, b cpuSnap) (byRole [nRoles]time.Duration, other, steal float64) {
	var sum time.Duration
	for pid, p := range b.procs {
		d := time.Duration(p.ticks-a.procs[pid].ticks) * procfs.Tick
		byRole[p.role] += d
		sum += d
	}
	total := time.Duration(b.total-a.total) * procfs.Tick
	if total <= 0 {
		return byRole, 0, 0
	}
	rest := time.Duration(b.busy-a.busy)*procfs.Tick - sum - (b.self - a.self) - (b.kids - a.kids)
	stolen := time.Duration(b.steal-a.steal) * procfs.Tick
	return byRole, max(0, float64(rest)/float64(total)), max(0, float64(stolen)/float64(total))
}
