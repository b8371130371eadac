package procfs

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// FDs returns the number of open file descriptors of pid; -1 when it
// cannot be read (the process is gone).
func FDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// Threads returns the number of threads of pid, from /proc/PID/status; -1
// when it cannot be read.
func Threads(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// TCPPeers returns the remote addresses of pid's TCP sockets that are not
// listening (established ones, and ones closing), from its descriptors and
// /proc/PID/net/tcp{,6}. A process that is gone has none (and an error).
// The process should be stopped (SIGSTOP) for a snapshot that holds.
func TCPPeers(pid int) ([]netip.AddrPort, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tcp peers of %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var peers []netip.AddrPort
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue // no IPv6
		}
		rows, err := parseTCPTable(string(b))
		if err != nil {
			return nil, fmt.Errorf("tcp peers of %d: %w", pid, err)
		}
		for _, r := range rows {
			if inodes[r.inode] && r.state != tcpListen {
				peers = append(peers, r.remote)
			}
		}
	}
	return peers, nil
}

const tcpListen = "0A"

type tcpRow struct {
	local, remote netip.AddrPort
	state, inode  string
}

// parseTCPTable parses /proc/net/tcp or tcp6: a header line, then
// "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...".
func parseTCPTable(s string) ([]tcpRow, error) {
	var rows []tcpRow
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("short line %q", line)
		}
		local, err := parseHexAddr(f[1])
		if err != nil {
			return nil, err
		}
		remote, err := parseHexAddr(f[2])
		if err != nil {
			return nil, err
		}
		rows = append(rows, tcpRow{local: local, remote: remote, state: f[3], inode: f[9]})
	}
	return rows, nil
}

// parseHexAddr parses "0100007F:1F90": the address as the kernel's 32-bit
// words in host (little-endian) order, the port in big-endian hex.
func parseHexAddr(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	for w := 0; w < len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port in %q", s)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(p)), nil
}

// Stopped reports whether every thread of pid is stopped (SIGSTOP, state
// T): kill(2) returns before a group stop has reached them all. False when
// the process is gone.
func Stopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			return false
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		if err != nil {
			return false
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) || (s[i+2] != 'T' && s[i+2] != 't') {
			return false
		}
	}
	return true
}

// LoadAverage returns the 1-minute load average (0 if unknown).
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}
