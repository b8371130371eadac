package peerlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/rs/zerolog"
)

// fakeClock is a manual clock whose timers fire on Advance.
type fakeClock struct {
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f})
}

// Advance moves the clock and runs the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.now = c.now.Add(d)
	var keep []fakeTimer
	var due []func()
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t.f)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	for _, f := range due {
		f()
	}
}

func newTest(t *testing.T) (*Logger, *fakeClock, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(zerolog.New(&buf), "scgi")
	l.now = clock.Now
	l.afterFunc = clock.AfterFunc
	return l, clock, &buf
}

// lines decodes the JSON lines written so far and empties buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestBadLineFields(t *testing.T) {
	l, _, buf := newTest(t)
	l.Bad("10.0.0.1:5000", errors.New("netstring: leading zero"))
	got := lines(t, buf)
	if len(got) != 1 {
		t.Fatalf("%d lines, want 1", len(got))
	}
	want := map[string]any{"level": "warn", "proto": "scgi", "peer": "10.0.0.1:5000",
		"error": "netstring: leading zero", "message": "bad input from peer"}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("field %s = %v, want %v", k, got[0][k], v)
		}
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name string
		// steps: n Bad calls at the current time, then advance by d.
		steps []struct {
			n int
			d time.Duration
		}
		wantLines      int
		wantSuppressed []float64 // summary counts in order
	}{
		{"under the burst", steps(5, time.Second), 5, nil},
		{"exactly the burst", steps(Burst, time.Second), Burst, nil},
		{"flood in one second", steps(Burst+25, time.Second), Burst, []float64{25}},
		{"flood, summary comes without further lines", steps(1000, 999*time.Millisecond, 0, time.Millisecond), Burst, []float64{1000 - Burst}},
		{"summary not before the window ends", steps(Burst+3, 999*time.Millisecond), Burst, nil},
		{"two windows", steps(Burst+1, 1500*time.Millisecond, Burst+2, time.Second), 2 * Burst, []float64{1, 2}},
		{"new window starts from a line", steps(Burst+4, 500*time.Millisecond, 1, 600*time.Millisecond, 0, time.Second), Burst, []float64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clock, buf := newTest(t)
			for i, s := range tt.steps {
				for j := range s.n {
					l.Bad(fmt.Sprintf("peer%d.%d", i, j), errors.New("bad"))
				}
				clock.Advance(s.d)
			}
			var n int
			var summaries []float64
			for _, m := range lines(t, buf) {
				if s, ok := m["suppressed"]; ok {
					summaries = append(summaries, s.(float64))
					if m["level"] != "warn" || m["proto"] != "scgi" {
						t.Errorf("summary line %v", m)
					}
				} else {
					n++
				}
			}
			if n != tt.wantLines {
				t.Errorf("%d lines, want %d", n, tt.wantLines)
			}
			if fmt.Sprint(summaries) != fmt.Sprint(tt.wantSuppressed) {
				t.Errorf("summaries %v, want %v", summaries, tt.wantSuppressed)
			}
		})
	}
}

func steps(v ...any) []struct {
	n int
	d time.Duration
} {
	var out []struct {
		n int
		d time.Duration
	}
	for i := 0; i < len(v); i += 2 {
		out = append(out, struct {
			n int
			d time.Duration
		}{v[i].(int), v[i+1].(time.Duration)})
	}
	return out
}

func TestLateTimerFromOldWindow(t *testing.T) {
	// A timer from window 1 that runs after window 2 began (it was delayed)
	// must not write window 2's summary early.
	l, clock, buf := newTest(t)
	var late []func()
	l.afterFunc = func(d time.Duration, f func()) { late = append(late, f) }
	for range Burst + 1 {
		l.Bad("p", errors.New("x"))
	}
	clock.Advance(time.Second)
	for range Burst + 2 {
		l.Bad("p", errors.New("x")) // window 2: summary of window 1, then counts 2
	}
	late[0]()
	var summaries []float64
	for _, m := range lines(t, buf) {
		if s, ok := m["suppressed"]; ok {
			summaries = append(summaries, s.(float64))
		}
	}
	if fmt.Sprint(summaries) != "[1]" {
		t.Fatalf("summaries %v, want [1]", summaries)
	}
	late[1]()
	if got := lines(t, buf); len(got) != 1 || got[0]["suppressed"] != float64(2) {
		t.Fatalf("window 2 timer wrote %v", got)
	}
}

func TestNilDiscards(t *testing.T) {
	var l *Logger
	l.Bad("p", errors.New("x")) // must not panic
}

func TestConcurrent(t *testing.T) {
	var buf testutil.Buffer
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	l := New(zerolog.New(&buf), "uwsgi")
	l.now = clock.Now
	l.afterFunc = clock.AfterFunc // called under l.mu only
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				l.Bad("p", errors.New("x"))
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "\n"); n != Burst {
		t.Errorf("%d lines, want %d", n, Burst)
	}
	clock.Advance(time.Second)
	if !strings.Contains(buf.String(), fmt.Sprintf(`"suppressed":%d`, 800-Burst)) {
		t.Errorf("no summary of %d: %s", 800-Burst, buf.String())
	}
}

func TestRealTimerWritesSummary(t *testing.T) {
	var buf testutil.Buffer
	l := New(zerolog.New(&buf), "scgi")
	for range Burst + 1 {
		l.Bad("p", errors.New("x"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), `"suppressed":1`) {
		if time.Now().After(deadline) {
			t.Fatal("no summary line from the real timer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
