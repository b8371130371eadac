package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Tick is the unit of the CPU times in /proc/stat and /proc/PID/stat
// (USER_HZ, 100 on every Linux architecture Go supports).
const Tick = 10 * time.Millisecond

// Times are the aggregate CPU counters of /proc/stat, in ticks.
type Times struct {
	// Busy is user, nice, system, irq, softirq and steal.
	Busy int64
	// Total adds idle and iowait (the guest times, already counted in
	// user and nice, are ignored).
	Total int64
	// Steal is the time a hypervisor gave to something else while this
	// machine's CPUs had work: on a shared VM, the host's own load.
	Steal int64
}

// CPU returns what all CPUs have spent since boot, from /proc/stat (see
// ParseCPU). Deltas of Busy cover every process and the kernel.
func CPU() (Times, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Times{}, err
	}
	return ParseCPU(string(b))
}

// ParseCPU returns the counters of the aggregate "cpu" line of /proc/stat's
// text.
func ParseCPU(stat string) (Times, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return Times{}, errors.New(`/proc/stat: no aggregate "cpu" line with 8 counters`)
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || n < 0 || n > 1<<56 {
			return Times{}, fmt.Errorf("/proc/stat: bad counter %q", f[i+1])
		}
		v[i] = n
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return Times{Busy: busy, Total: busy + v[3] + v[4], Steal: v[7]}, nil
}

// CPUTicks is the CPU time pid has used, user and system, in ticks, from
// /proc/PID/stat; 0 when the process is gone or the file cannot be read.
// The time of children it has reaped is not included.
func CPUTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	n, _ := ParsePidCPU(string(b))
	return n
}

// ParsePidCPU returns utime + stime, in ticks, from the text of
// /proc/PID/stat. The command name in parentheses may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func ParsePidCPU(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("/proc/PID/stat: too few fields")
	}
	var sum int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<56 {
			return 0, fmt.Errorf("/proc/PID/stat: bad time %q", s)
		}
		sum += n
	}
	return sum, nil
}
