package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a gateway the benchmark started (arbiter's master or
// fcgiwrap's first process), leading a process group of its own.
type server struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startServer runs bin with args as the leader of a new process group,
// with stdout and stderr in logPath and an environment of PATH alone (as
// under systemd; fcgiwrap hands its whole environment to every script, and
// a shell's would make its execs dearer than arbiter's, whose scripts get
// PATH by default), and waits until the unix socket sock
// accepts connections. A server that exits first, or is not accepting
// after 30 s, is an error that quotes its log.
func startServer(name, bin string, args []string, logPath, sock string) (*server, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited at start-up:\n%s", name, log)
		default:
		}
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop(syscall.SIGTERM, true)
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s not accepting on %s after 30s:\n%s", name, sock, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgid is the server's process group: its leader's pid.
func (s *server) pgid() int { return s.cmd.Process.Pid }

// stop sends sig to the leader (arbiter: SIGTERM, a graceful stop of the
// master and its workers) or, with group, to the whole group (fcgiwrap's
// processes do not pass it on), waits up to 10 s for the leader, then
// kills what is left of the group.
func (s *server) stop(sig syscall.Signal, group bool) {
	pid := s.cmd.Process.Pid
	target := pid
	if group {
		target = -pid
	}
	_ = syscall.Kill(target, sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-s.done
}

// pgrpOf returns the process group of pid, read from /proc.
func pgrpOf(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[2])
}

// clockTick is the unit of /proc/stat's times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// machineCPU returns the CPU time all CPUs have spent busy since boot
// (user, nice, system, irq, softirq and steal in /proc/stat's "cpu"
// line), 0 if it cannot be read. Deltas of it cover everything on the
// path of a request (nginx, wrk, the server, the script, the kernel),
// and everything else the machine ran at the time.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseProcStat(string(b))
}

// parseProcStat reads the busy time from the "cpu" line of /proc/stat's
// text: user nice system idle iowait irq softirq steal …; 0 if the line
// is missing or short.
func parseProcStat(stat string) time.Duration {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// statFields returns the fields of /proc/PID/stat after "pid (comm)":
// state, ppid, pgrp, … (so utime, field 14 of proc(5), is index 11).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return nil, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	return f, nil
}

// fcgiwrapBinary finds fcgiwrap: on PATH, or at Debian's /usr/sbin path
// (often not on a user's PATH).
func fcgiwrapBinary() (string, error) {
	if p, err := exec.LookPath("fcgiwrap"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/fcgiwrap"
	if st, err := os.Stat(debian); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return debian, nil
	}
	return "", fmt.Errorf("fcgiwrap not found on PATH or at %s", debian)
}
