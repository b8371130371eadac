package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Addr never hands out a port twice, and each is below the ephemeral range.
func TestAddrUniqueBelowEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	low := ephemeralLow()
	for range 500 {
		a, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		_, ps, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(ps)
		if low-lowest > 1000 && (p < lowest || p >= low) {
			t.Fatalf("%s is not in [%d, %d)", a, lowest, low)
		}
	}
}
