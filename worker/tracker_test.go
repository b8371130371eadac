package worker

import (
	"testing"
	"time"
)

// The tracker's histogram is cumulative, puts a duration on a bound in
// that bound's bucket, and counts what is over every bound in +Inf only.
func TestTrackerDurations(t *testing.T) {
	tr := newTracker(0, nil)
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 2 * time.Minute} {
		tr.observe(d)
	}
	h := tr.durations()
	if h.Count != 4 || h.Counts[0] != 2 || h.Counts[1] != 2 || h.Counts[2] != 3 || h.Counts[len(h.Counts)-1] != 3 {
		t.Errorf("histogram %+v", h)
	}
	if want := (time.Millisecond + 5*time.Millisecond + 20*time.Millisecond + 2*time.Minute).Seconds(); h.Sum != want {
		t.Errorf("sum %v, want %v", h.Sum, want)
	}
}
