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
	tests := []struct{ cpus, workers, want int }{
		{2, 2, 1}, {2, 1, 2}, {8, 2, 4}, {8, 3, 3}, {2, 5, 1}, {4, 0, 4}, {1, 1, 1},
	}
	for _, tt := range tests {
		if got := workerProcs(tt.cpus, tt.workers); got != tt.want {
			t.Errorf("workerProcs(%d, %d) = %d, want %d", tt.cpus, tt.workers, got, tt.want)
		}
	}
}
