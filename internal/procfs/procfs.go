// Package procfs reads what arbiter needs to know about processes from
// Linux's /proc: state, parent and process group, the lists derived from
// them, and memory. It imports nothing from testing, so the workers (RSS)
// and the benchmark programs use it too.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Proc is one line of /proc/PID/stat, the fields we use.
type Proc struct {
	PID, PPID, PGRP int
	State           string // R, S, D, Z (zombie), X (dead), ...
}

// Live reports whether the process has not exited (a zombie has).
func (p Proc) Live() bool { return p.State != "Z" && p.State != "X" }

// Stat reads /proc/pid/stat; false when the process is gone.
func Stat(pid int) (Proc, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Proc{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold spaces and parentheses
	if i < 0 {
		return Proc{}, false
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return Proc{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return Proc{}, false
	}
	return Proc{PID: pid, PPID: ppid, PGRP: pgrp, State: f[0]}, true
}

// All returns every process that Stat can read.
func All() []Proc {
	ents, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := Stat(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// Alive reports whether pid exists and has not exited.
func Alive(pid int) bool {
	p, ok := Stat(pid)
	return ok && p.Live()
}

// Children returns the live children of ppid.
func Children(ppid int) []int {
	return pids(func(p Proc) bool { return p.PPID == ppid && p.Live() })
}

// Zombies returns the zombie children of ppid.
func Zombies(ppid int) []int {
	return pids(func(p Proc) bool { return p.PPID == ppid && p.State == "Z" })
}

// Group returns the live members of process group pgid.
func Group(pgid int) []int {
	return pids(func(p Proc) bool { return p.PGRP == pgid && p.Live() })
}

func pids(match func(Proc) bool) []int {
	var out []int
	for _, p := range All() {
		if match(p) {
			out = append(out, p.PID)
		}
	}
	return out
}

// RSS is the resident set size of pid in bytes, from /proc/PID/statm; 0
// when the process is gone or the file cannot be read. pid 0 means this
// process.
func RSS(pid int) int64 {
	name := "/proc/self/statm"
	if pid != 0 {
		name = "/proc/" + strconv.Itoa(pid) + "/statm"
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// OpenFDs counts this process's open file descriptors, from /proc/self/fd
// (the one the count reads included); -1 when it cannot be read.
func OpenFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
