package master

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestWorkerProcs(t *testing.T) {
	tests := []struct {
		cpus, workers int
		apps          bool
		want          int
	}{
		{2, 2, false, 1}, {2, 1, false, 2}, {8, 2, false, 4}, {8, 3, false, 3}, {2, 5, false, 1}, {4, 0, false, 4}, {1, 1, false, 1},
		{2, 1, true, 1}, {8, 1, true, 4}, {1, 1, true, 1}, {16, 2, true, 4},
	}
	for _, tt := range tests {
		if got := workerProcs(tt.cpus, tt.workers, tt.apps); got != tt.want {
			t.Errorf("workerProcs(%d, %d, %v) = %d, want %d", tt.cpus, tt.workers, tt.apps, got, tt.want)
		}
	}
}
