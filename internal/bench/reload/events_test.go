package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestScaled(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want counts
	}{
		{60 * time.Second, counts{50, 20, 5}},
		{5 * time.Minute, counts{50, 20, 5}},
		{30 * time.Second, counts{25, 10, 3}},
		{15 * time.Second, counts{13, 4, 1}},
		{2 * time.Second, counts{2, 2, 1}},
	} {
		if got := scaled(tt.d); got != tt.want {
			t.Errorf("scaled(%v) = %+v, want %+v", tt.d, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	for _, c := range []counts{nominal, {13, 4, 1}, {2, 2, 0}, {0, 0, 3}, {}} {
		kinds := plan(c)
		n := map[string]int{}
		var ttx []string
		var usr2At []int
		for i, k := range kinds {
			n[k]++
			switch k {
			case evTTIN, evTTOU:
				ttx = append(ttx, k)
			case evUSR2:
				usr2At = append(usr2At, i)
			}
		}
		if n[evHUP] != c.hup || n[evTTIN]+n[evTTOU] != c.ttinTTOU || n[evUSR2] != c.usr2 || len(kinds) != c.hup+c.ttinTTOU+c.usr2 {
			t.Errorf("%+v: planned %v", c, n)
		}
		for i, k := range ttx {
			if want := []string{evTTIN, evTTOU}[i%2]; k != want {
				t.Errorf("%+v: TTIN/TTOU number %d is %s, want %s", c, i, k, want)
			}
		}
		// Spread: consecutive USR2s are about len/usr2 apart.
		for i := 1; i < len(usr2At); i++ {
			if gap, even := usr2At[i]-usr2At[i-1], len(kinds)/c.usr2; gap < even-2 || gap > even+2 {
				t.Errorf("%+v: USR2s at %v, not spread", c, usr2At)
			}
		}
	}
}

// fakeController records what it is asked to do.
type fakeController struct {
	mu          sync.Mutex
	got         []string
	upgradeTime time.Duration
	failUpgrade bool
}

func (f *fakeController) signal(kind string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, kind)
	return 42, nil
}

func (f *fakeController) upgrade(time.Duration) (int, string, error) {
	f.mu.Lock()
	f.got = append(f.got, evUSR2)
	f.mu.Unlock()
	time.Sleep(f.upgradeTime)
	if f.failUpgrade {
		return 42, "", errors.New("no promoted line")
	}
	return 42, "master 42 → 43", nil
}

func TestSendEvents(t *testing.T) {
	kinds := plan(counts{hup: 4, ttinTTOU: 2, usr2: 1})
	for _, tt := range []struct {
		name      string
		ctl       *fakeController
		end       time.Duration
		wantSent  int
		wantErrs  int
		wantNotes int
	}{
		{"all in time", &fakeController{}, time.Minute, 7, 0, 1},
		{"a slow upgrade is waited for", &fakeController{upgradeTime: 150 * time.Millisecond}, time.Minute, 7, 0, 1},
		{"a failed upgrade is recorded", &fakeController{failUpgrade: true}, time.Minute, 7, 1, 0},
		{"past the end", &fakeController{}, 1250 * time.Millisecond, 3, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			sent, unsent := sendEvents(context.Background(), tt.ctl, kinds, func() time.Duration { return time.Since(start) }, 50*time.Millisecond, 2850*time.Millisecond, tt.end, time.Second)
			if len(sent) != tt.wantSent || unsent != len(kinds)-tt.wantSent {
				t.Fatalf("sent %d, unsent %d; want %d sent", len(sent), unsent, tt.wantSent)
			}
			if got := strings.Join(tt.ctl.got, " "); got != strings.Join(kinds[:tt.wantSent], " ") {
				t.Fatalf("controller got %q, want %q", got, kinds[:tt.wantSent])
			}
			errs, notes := 0, 0
			for i, ev := range sent {
				if ev.kind != kinds[i] || ev.pid != 42 {
					t.Errorf("event %d = %+v", i, ev)
				}
				if i > 0 && ev.at < sent[i-1].at {
					t.Errorf("event %d sent at %v, before event %d at %v", i, ev.at, i-1, sent[i-1].at)
				}
				if ev.err != nil {
					errs++
				}
				if ev.note != "" {
					notes++
				}
				if ev.kind == evUSR2 && ev.err == nil && ev.done < ev.at {
					t.Errorf("USR2 done at %v, before it was sent at %v", ev.done, ev.at)
				}
				if ev.at < 50*time.Millisecond {
					t.Errorf("event %d sent at %v, before the window", i, ev.at)
				}
			}
			if errs != tt.wantErrs || notes != tt.wantNotes {
				t.Errorf("%d errors and %d notes, want %d and %d", errs, notes, tt.wantErrs, tt.wantNotes)
			}
		})
	}
}

// A cancelled context stops the events at once.
func TestSendEventsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ctl := &fakeController{}
	start := time.Now()
	sent, unsent := sendEvents(ctx, ctl, []string{evHUP, evHUP}, func() time.Duration { return time.Since(start) }, time.Second, 2*time.Second, time.Minute, time.Second)
	if len(sent) != 0 || unsent != 2 || len(ctl.got) != 0 {
		t.Fatalf("sent %v, unsent %d, controller got %v", sent, unsent, ctl.got)
	}
}

func TestWindow(t *testing.T) {
	for _, tt := range []struct {
		d, from, to time.Duration
	}{
		{60 * time.Second, 3 * time.Second, 55 * time.Second},
		{15 * time.Second, 750 * time.Millisecond, 13750 * time.Millisecond},
		{2 * time.Second, 500 * time.Millisecond, time.Second},
		{10 * time.Minute, 3 * time.Second, 595 * time.Second},
	} {
		if from, to := window(tt.d); from != tt.from || to != tt.to {
			t.Errorf("window(%v) = %v, %v; want %v, %v", tt.d, from, to, tt.from, tt.to)
		}
	}
}

// Without gunicorn, its scenario is skipped with the command that installs it.
func TestGunicornMissing(t *testing.T) {
	e := &env{dir: t.TempDir()}
	sc, err := selectScenarios("gunicorn-gthread")
	if err != nil {
		t.Fatal(err)
	}
	r := runScenario(context.Background(), options{duration: time.Second, conns: 1, timeout: time.Second, method: "GET", hup: -1, ttinTTOU: -1, usr2: -1}, e, sc[0], io.Discard)
	if r.err != nil || !strings.Contains(r.skipped, "apt-get install -y gunicorn") {
		t.Fatalf("skipped %q, err %v", r.skipped, r.err)
	}
	if _, err := selectScenarios("arbiter-http,nope"); err == nil || !strings.Contains(err.Error(), "arbiter-nginx-fastcgi") {
		t.Fatalf("unknown scenario: %v", err)
	}
}
