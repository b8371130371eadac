package procfs

import (
	"os"
	"testing"
	"time"
)

func TestParseCPU(t *testing.T) {
	tests := []struct {
		stat string
		want Times
		ok   bool
	}{
		{"cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", Times{161, 1181, 1}, true},
		{"cpu 1 2 3 4 5 6 7 8", Times{27, 36, 8}, true},
		{"cpu0 1 2 3 4 5 6 7 8\n", Times{}, false},
		{"cpu 1 2 3\n", Times{}, false},
		{"cpu 1 2 3 x 5 6 7 8\n", Times{}, false},
		{"cpu 1 2 3 -4 5 6 7 8\n", Times{}, false},
		{"", Times{}, false},
	}
	for _, tt := range tests {
		got, err := ParseCPU(tt.stat)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseCPU(%q) = %+v, %v; want %+v, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
	if c, err := CPU(); err != nil || c.Busy <= 0 || c.Total < c.Busy || c.Steal > c.Busy {
		t.Errorf("CPU() = %+v, %v", c, err)
	}
}

func FuzzParseCPU(f *testing.F) {
	f.Add("cpu  100 5 50 1000 20 3 2 1 0 0\n")
	f.Fuzz(func(t *testing.T, stat string) {
		c, err := ParseCPU(stat)
		if err == nil && (c.Steal < 0 || c.Busy < c.Steal || c.Total < c.Busy) {
			t.Fatalf("ParseCPU(%q) = %+v", stat, c)
		}
	})
}

func TestParsePidCPU(t *testing.T) {
	tests := []struct {
		stat string
		want int64
		ok   bool
	}{
		{"42 (arbiter) S 1 42 42 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 9 0", 32, true},
		{"42 (a) b) (c) R 1 42 42 0 -1 0 0 0 0 0 3 4 0 0", 7, true},
		{"42 (x) S 1 2 3", 0, false},
		{"42 x S 1 42 42 0 -1 0 0 0 0 0 3 4", 0, false},
		{"42 (x) S 1 42 42 0 -1 0 0 0 0 0 3 z", 0, false},
	}
	for _, tt := range tests {
		got, err := ParsePidCPU(tt.stat)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePidCPU(%q) = %d, %v; want %d, ok %v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
	// This process spins until it has used a tick (10 s of CPU at most);
	// a pid that cannot exist reads as 0.
	for deadline := time.Now().Add(10 * time.Second); CPUTicks(os.Getpid()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("CPUTicks of this process stays 0")
		}
	}
	if n := CPUTicks(1 << 30); n != 0 {
		t.Errorf("CPUTicks of a missing pid = %d", n)
	}
}

func FuzzParsePidCPU(f *testing.F) {
	f.Add("42 (arbiter) S 1 42 42 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 9 0")
	f.Fuzz(func(t *testing.T, stat string) {
		if n, err := ParsePidCPU(stat); err == nil && n < 0 {
			t.Fatalf("ParsePidCPU(%q) = %d", stat, n)
		}
	})
}
