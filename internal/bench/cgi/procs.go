package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// serverEnv is the environment of the gateways: PATH alone, as under
// systemd. fcgiwrap hands its whole environment to every script, and a
// shell's would make its execs dearer than arbiter's, whose scripts get
// PATH by default.
func serverEnv() []string { return []string{"PATH=" + os.Getenv("PATH")} }

// machineCPU returns the CPU time all CPUs have spent busy since boot
// (procfs.CPU), 0 if it cannot be read. Deltas of it cover everything on
// the path of a request (nginx, wrk, the server, the script, the kernel),
// and everything else the machine ran at the time.
func machineCPU() time.Duration {
	c, err := procfs.CPU()
	if err != nil {
		return 0
	}
	return time.Duration(c.Busy) * procfs.Tick
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
