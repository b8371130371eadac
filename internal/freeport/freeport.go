// Package freeport hands out loopback TCP ports for the servers tests and
// benchmarks start.
//
// A port found by binding port 0 and closing again comes from the kernel's
// ephemeral range, which outgoing connections draw their source ports from:
// on a machine busy with loopback traffic a client may take it before the
// server binds it, and two calls in a row may return the same port. Addr
// instead picks ports at random below the ephemeral range, which no
// outgoing connection uses, checks that each is free by binding it, and
// never returns a port twice in one process. Another process may still
// bind the port first; picking at random among thousands makes that rare
// even with several test binaries at once.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port handed out.
const lowest = 10000

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Addr returns "127.0.0.1:PORT" for a port that was free a moment ago and
// that this process has not been given before.
func Addr() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	hi := ephemeralLow() - 1
	if hi-lowest >= 1000 {
		for range 200 {
			p := lowest + rand.IntN(hi-lowest+1)
			if handed[p] {
				continue
			}
			if free(p) {
				handed[p] = true
				return "127.0.0.1:" + strconv.Itoa(p), nil
			}
		}
	}
	// No room below the ephemeral range: let the kernel choose.
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handed[p] {
			handed[p] = true
			return "127.0.0.1:" + strconv.Itoa(p), nil
		}
	}
	return "", errors.New("free port: none found")
}

func free(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
