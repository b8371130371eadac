package main

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"time"
)

// Event kinds: the signal sent to the master.
const (
	evHUP  = "HUP"
	evTTIN = "TTIN"
	evTTOU = "TTOU"
	evUSR2 = "USR2"
)

var eventKinds = []string{evHUP, evTTIN, evTTOU, evUSR2}

var signalOf = map[string]syscall.Signal{
	evHUP: syscall.SIGHUP, evTTIN: syscall.SIGTTIN, evTTOU: syscall.SIGTTOU, evUSR2: syscall.SIGUSR2,
}

// event is one signal sent during the load.
type event struct {
	kind string
	at   time.Duration // when it was sent, since the load started
	// done is when it had taken effect according to the server's log
	// (0: not known): HUP, the new generation ready; TTIN, the new worker
	// ready; TTOU, the retired worker gone; USR2, the old master gone.
	done time.Duration
	pid  int    // the master it was sent to
	note string // what came of it, when worth saying
	err  error  // it could not be sent, or did not take effect
}

// counts are how many events of each kind a scenario sends.
type counts struct {
	hup, ttinTTOU, usr2 int
}

func (c counts) String() string {
	s := fmt.Sprintf("%d HUP, %d TTIN/TTOU (alternating)", c.hup, c.ttinTTOU)
	if c.usr2 > 0 {
		s += fmt.Sprintf(", %d USR2", c.usr2)
	}
	return s
}

// nominal are the counts of a 60 s run.
var nominal = counts{hup: 50, ttinTTOU: 20, usr2: 5}

const nominalDuration = 60 * time.Second

// scaled returns the nominal counts for a run of d: proportionally fewer
// below 60 s (at least one of each, an even number of TTIN/TTOU), the
// nominal ones at 60 s and above.
func scaled(d time.Duration) counts {
	if d >= nominalDuration {
		return nominal
	}
	f := float64(d) / float64(nominalDuration)
	scale := func(n int) int { return max(1, int(float64(n)*f+0.5)) }
	return counts{hup: scale(nominal.hup), ttinTTOU: max(2, scale(nominal.ttinTTOU)/2*2), usr2: scale(nominal.usr2)}
}

// plan returns the kinds in the order they are sent: each kind spread
// evenly over the run (the k-th of n at (k+½)/n of it), TTIN and TTOU
// alternating, TTIN first, so that the worker count goes up and back down.
func plan(c counts) []string {
	type slot struct {
		pos  float64
		rank int
		kind string
	}
	var slots []slot
	add := func(n, rank int, kind func(int) string) {
		for k := range n {
			slots = append(slots, slot{(float64(k) + 0.5) / float64(n), rank, kind(k)})
		}
	}
	add(c.usr2, 0, func(int) string { return evUSR2 })
	add(c.ttinTTOU, 1, func(k int) string {
		if k%2 == 0 {
			return evTTIN
		}
		return evTTOU
	})
	add(c.hup, 2, func(int) string { return evHUP })
	sort.SliceStable(slots, func(i, j int) bool {
		if slots[i].pos != slots[j].pos {
			return slots[i].pos < slots[j].pos
		}
		return slots[i].rank < slots[j].rank
	})
	kinds := make([]string, len(slots))
	for i, s := range slots {
		kinds[i] = s.kind
	}
	return kinds
}

// controller sends a scenario's events to its server.
type controller interface {
	// signal sends HUP, TTIN or TTOU to the master in charge and returns
	// its pid.
	signal(kind string) (pid int, err error)
	// upgrade sends USR2 and waits until the new master is in charge (the
	// old one gone), or for timeout; the note says what happened.
	upgrade(timeout time.Duration) (oldPID int, note string, err error)
}

// sendEvents sends kinds between from and to (times since the load
// started, which since tells):
// the i-th of n at from + (i+½)·(to−from)/n. A USR2 is waited for before
// the next event; when that puts the run behind, the remaining events are
// spread evenly over what is left of the window, never closer together
// than they were planned. Events whose time is past the end of the load are
// not sent and come back as unsent.
func sendEvents(ctx context.Context, ctl controller, kinds []string, since func() time.Duration, from, to, end time.Duration, upgradeTimeout time.Duration) (sent []event, unsent int) {
	n := len(kinds)
	if n == 0 {
		return nil, 0
	}
	span := to - from
	gap := span / time.Duration(n)
	for i, kind := range kinds {
		now := since()
		at := from + span*time.Duration(2*i+1)/time.Duration(2*n)
		if now > at-gap/2 && i > 0 {
			// Behind schedule: keep a fair share of what is left.
			even := (to - now) / time.Duration(n-i)
			at = max(at, now+max(min(even, gap), 50*time.Millisecond))
		}
		if at >= end {
			return sent, n - i
		}
		select {
		case <-ctx.Done():
			return sent, n - i
		case <-time.After(at - now):
		}
		ev := event{kind: kind, at: since()}
		if kind == evUSR2 {
			var note string
			ev.pid, note, ev.err = ctl.upgrade(upgradeTimeout)
			ev.note = note
			if ev.err == nil {
				ev.done = since()
			}
		} else {
			ev.pid, ev.err = ctl.signal(kind)
		}
		sent = append(sent, ev)
	}
	return sent, 0
}
