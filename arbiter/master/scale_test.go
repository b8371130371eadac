package master

import (
	"testing"
	"time"
)

func TestDecideScale(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	base := scaleInput{Now: t0, Desired: 2, Min: 1, Max: 4, Ready: 2, Capacity: 4, Settled: true,
		LastChange: t0.Add(-time.Hour), LastBusy: t0.Add(-time.Hour), ScaleDownAfter: 30 * time.Second}
	with := func(f func(*scaleInput)) scaleInput { in := base; f(&in); return in }
	tests := []struct {
		name string
		in   scaleInput
		want scaleDecision
	}{
		{"fixed fleet", with(func(in *scaleInput) { in.Max, in.Min, in.Queued = 0, 0, 5 }), scaleDecision{}},
		{"queue: one more", with(func(in *scaleInput) { in.Queued = 3; in.LastBusy = t0 }), scaleDecision{+1, reasonAcceptQueue}},
		{"capacity filled: one more", with(func(in *scaleInput) { in.InFlight = 8; in.LastBusy = t0 }), scaleDecision{+1, reasonAllBusy}},
		{"filled unevenly still counts", with(func(in *scaleInput) { in.InFlight = 9; in.LastBusy = t0 }), scaleDecision{+1, reasonAllBusy}},
		{"below capacity: hold", with(func(in *scaleInput) { in.InFlight = 7; in.LastBusy = t0 }), scaleDecision{}},
		{"queue at max: hold", with(func(in *scaleInput) { in.Queued = 3; in.Desired, in.Ready = 4, 4 }), scaleDecision{}},
		{"queue while a worker boots: hold", with(func(in *scaleInput) { in.Queued = 3; in.Settled = false }), scaleDecision{}},
		{"stopped by WINCH: hold", with(func(in *scaleInput) { in.Queued = 3; in.Desired, in.Ready = 0, 0 }), scaleDecision{}},
		{"quiet long enough: one less", base, scaleDecision{-1, reasonIdle}},
		{"load that fits in one less: one less", with(func(in *scaleInput) { in.InFlight = 4 }), scaleDecision{-1, reasonIdle}},
		{"load that needs both: hold", with(func(in *scaleInput) { in.InFlight = 5 }), scaleDecision{}},
		{"quiet at min: hold", with(func(in *scaleInput) { in.Desired, in.Ready = 1, 1 }), scaleDecision{}},
		{"busy a moment ago: hold", with(func(in *scaleInput) { in.LastBusy = t0.Add(-29 * time.Second) }), scaleDecision{}},
		{"changed a moment ago: hold", with(func(in *scaleInput) { in.LastChange = t0.Add(-10 * time.Second) }), scaleDecision{}},
		{"quiet exactly scale_down_after: one less", with(func(in *scaleInput) { in.LastBusy = t0.Add(-30 * time.Second) }), scaleDecision{-1, reasonIdle}},
	}
	for _, tt := range tests {
		if got := decideScale(tt.in); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestScaleTarget(t *testing.T) {
	tests := []struct {
		arg  string
		cur  int
		want int
		ok   bool
	}{
		{"3", 2, 3, true}, {"+1", 2, 3, true}, {"-1", 2, 1, true}, {"+0", 2, 2, true},
		{"", 2, 0, false}, {"x", 2, 0, false}, {"1.5", 2, 0, false},
	}
	for _, tt := range tests {
		got, err := scaleTarget(tt.arg, tt.cur)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("scaleTarget(%q, %d) = %d, %v", tt.arg, tt.cur, got, err)
		}
	}
}
