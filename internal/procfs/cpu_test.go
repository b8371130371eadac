package procfs

import "testing"

func TestParseCPU(t *testing.T) {
	tests := []struct {
		stat        string
		busy, total int64
		ok          bool
	}{
		{"cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n", 161, 1181, true},
		{"cpu 1 2 3 4 5 6 7 8", 27, 36, true},
		{"cpu0 1 2 3 4 5 6 7 8\n", 0, 0, false},
		{"cpu 1 2 3\n", 0, 0, false},
		{"cpu 1 2 3 x 5 6 7 8\n", 0, 0, false},
		{"cpu 1 2 3 -4 5 6 7 8\n", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		busy, total, err := ParseCPU(tt.stat)
		if (err == nil) != tt.ok || busy != tt.busy || total != tt.total {
			t.Errorf("ParseCPU(%q) = %d, %d, %v; want %d, %d, ok %v", tt.stat, busy, total, err, tt.busy, tt.total, tt.ok)
		}
	}
	if busy, total, err := CPU(); err != nil || busy <= 0 || total < busy {
		t.Errorf("CPU() = %d, %d, %v", busy, total, err)
	}
}

func FuzzParseCPU(f *testing.F) {
	f.Add("cpu  100 5 50 1000 20 3 2 1 0 0\n")
	f.Fuzz(func(t *testing.T, stat string) {
		busy, total, err := ParseCPU(stat)
		if err == nil && (busy < 0 || total < busy) {
			t.Fatalf("ParseCPU(%q) = %d, %d", stat, busy, total)
		}
	})
}
