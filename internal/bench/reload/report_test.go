package main

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
)

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []int64
		want float64
	}{
		{nil, 0},
		{[]int64{7}, 7},
		{[]int64{3, 1, 2}, 2},
		{[]int64{4, 1, 3, 2}, 2.5},
		{[]int64{0, 0, 100, 100, 100}, 100},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEventWindow(t *testing.T) {
	for _, tt := range []struct {
		ev     event
		n      int
		lo, hi int
	}{
		{event{at: 5 * time.Second}, 100, 45, 55},
		{event{at: 5050 * time.Millisecond}, 100, 45, 56},
		{event{at: 5 * time.Second, done: 5300 * time.Millisecond}, 100, 45, 58},
		{event{at: 5 * time.Second, done: 4 * time.Second}, 100, 45, 55}, // done unknown or earlier: from the signal
		{event{at: 200 * time.Millisecond}, 100, 0, 7},
		{event{at: 9900 * time.Millisecond}, 100, 94, 100},
	} {
		if lo, hi := eventWindow(tt.ev, dipPad, tt.n); lo != tt.lo || hi != tt.hi {
			t.Errorf("eventWindow(%+v) = [%d, %d), want [%d, %d)", tt.ev, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestDips(t *testing.T) {
	buckets := make([]int64, 100)
	for i := range buckets {
		buckets[i] = 100
	}
	buckets[50] = 20 // inside the first HUP's window
	buckets[80] = 60 // inside the TTOU's window, which lasts until it took effect
	evs := []event{
		{kind: evHUP, at: 5 * time.Second, done: 5010 * time.Millisecond},
		{kind: evHUP, at: 3 * time.Second},
		{kind: evTTOU, at: 7 * time.Second, done: 7800 * time.Millisecond},
		{kind: evUSR2, at: 2 * time.Second, err: errors.New("failed")}, // left out
	}
	rows := dips(buckets, 100, evs, dipPad)
	if len(rows) != 2 || rows[0].kind != evHUP || rows[1].kind != evTTOU {
		t.Fatalf("rows %+v", rows)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	hup := rows[0]
	// First HUP: buckets 45..55 (11), one of them 20: low 0.2, mean (10·100+20)/11/100.
	if hup.n != 2 || !near(hup.lowWorst, 0.2) || !near(hup.lowMean, 0.6) ||
		!near(hup.meanWorst, 10.2/11) || !near(hup.meanMean, (10.2/11+1)/2) {
		t.Errorf("HUP row %+v", hup)
	}
	if len(hup.effect) != 1 || hup.effect[0] != 10*time.Millisecond {
		t.Errorf("HUP effect %v", hup.effect)
	}
	if ttou := rows[1]; ttou.n != 1 || !near(ttou.lowWorst, 0.6) {
		t.Errorf("TTOU row %+v", ttou)
	}
}

func TestBlame(t *testing.T) {
	evs := []event{
		{kind: evHUP, at: time.Second},
		{kind: evUSR2, at: 2 * time.Second, done: 4 * time.Second},
		{kind: evHUP, at: 10 * time.Second},
	}
	for _, tt := range []struct {
		at   time.Duration
		want int
	}{
		{500 * time.Millisecond, -1},  // before any event
		{time.Second, 0},              // at the same moment
		{1500 * time.Millisecond, 0},  //
		{6 * time.Second, 1},          // within 3 s of the USR2 taking effect
		{7500 * time.Millisecond, -1}, // too long after it
		{11 * time.Second, 2},
	} {
		if got := blame(evs, tt.at); got != tt.want {
			t.Errorf("blame(%v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

func TestNginxKey(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{`2026/11/20 22:40:51 [error] 21030#21030: *56 upstream prematurely closed connection while reading response header from upstream, client: 127.0.0.1, server: , request: "POST / HTTP/1.1"`,
			"[error] upstream prematurely closed connection while reading response header from upstream"},
		{`2026/11/20 22:40:51 [warn] 7#7: conflicting server name`, "[warn] conflicting server name"},
		{"not a log line", "not a log line"},
	} {
		if got := nginxKey(tt.line); got != tt.want {
			t.Errorf("nginxKey(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestPassAndReport(t *testing.T) {
	sc := &scenario{name: "x", title: "x", verdict: true}
	buckets := []int64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 50, 100, 100}
	for _, tt := range []struct {
		name string
		r    result
		pass bool
		show []string
	}{
		{"clean", result{}, true, []string{"PASS", "failed 0", "50% / 50%"}},
		{"a failed request", result{fails: []loadgen.Failure{{At: 1250 * time.Millisecond, Kind: loadgen.FailEOF, Nth: 4, Detail: "closed"}}}, false,
			[]string{"MISS", "eof 1", "250ms after HUP #1 (sent to 7)", "     eof             1      0      0      0      0"}},
		{"an event that failed", result{events: []event{{kind: evUSR2, at: time.Second, err: errors.New("no promoted line")}}}, false,
			[]string{"MISS", "USR2 #1 at 1.000s FAILED: no promoted line"}},
		{"unsent events", result{unsent: 3}, false, []string{"MISS", "3 NOT SENT"}},
		{"leftovers", result{stopError: errors.New("left processes")}, false, []string{"MISS", "at the stop: left processes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.sc, r.duration, r.buckets, r.ok, r.method = sc, 1500*time.Millisecond, buckets, 1450, "POST"
			if r.events == nil {
				r.events = []event{{kind: evHUP, at: time.Second, pid: 7}}
			}
			if got := r.pass(); got != tt.pass {
				t.Errorf("pass() = %v, want %v", got, tt.pass)
			}
			var out bytes.Buffer
			printResult(&out, &r)
			printSummary(&out, []*result{&r})
			for _, s := range tt.show {
				if !strings.Contains(out.String(), s) {
					t.Errorf("report lacks %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func TestQuiet(t *testing.T) {
	buckets := []int64{0, 100, 100, 80, 100, 10, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100}
	evs := []event{{kind: evHUP, at: 500 * time.Millisecond}} // window [0, 10)
	low, mean, n := quiet(buckets, 1, 100, evs, dipPad)
	if n != 10 || low != 1 || mean != 1 {
		t.Errorf("with the dip in a window: low %v, mean %v, n %d", low, mean, n)
	}
	low, mean, n = quiet(buckets, 1, 100, nil, dipPad)
	if n != 19 || low != 0.1 || math.Abs(mean-(1790.0/19/100)) > 1e-9 {
		t.Errorf("without events: low %v, mean %v, n %d", low, mean, n)
	}
}
