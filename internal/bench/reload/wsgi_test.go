package main

import (
	"strings"
	"testing"
	"time"
)

// A HUP takes effect when its version answers after its generation is
// ready; one whose version never answers is an error, a late one a note.
func TestWSGICompletions(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	w := &wsgiTarget{
		hups: []int{2, 3, 4},
		samples: []sample{
			{ms(100), 1}, {ms(700), 2}, // HUP 1 ready at 600 ms: version 2 at 700 ms
			{ms(1500), 2}, {ms(3000), 3}, // HUP 2 ready at 1400 ms: version 3 only 1.6 s later
			{ms(5000), 3}, // HUP 3 ready at 4000 ms: version 4 never
		},
	}
	evs := []event{
		{kind: evHUP, at: ms(500), done: ms(600)},
		{kind: evTTIN, at: ms(900), done: ms(1000)},
		{kind: evHUP, at: ms(1300), done: ms(1400)},
		{kind: evHUP, at: ms(3900), done: ms(4000)},
	}
	w.checkVersions(evs, 0)
	if evs[0].err != nil || evs[0].note != "" {
		t.Errorf("HUP 1: %v %q", evs[0].err, evs[0].note)
	}
	if evs[2].err != nil || !strings.Contains(evs[2].note, "version 3 answered 1.6s after") {
		t.Errorf("HUP 2: %v %q", evs[2].err, evs[2].note)
	}
	if evs[3].err == nil || !strings.Contains(evs[3].err.Error(), "version 4 never answered") {
		t.Errorf("HUP 3: %v", evs[3].err)
	}
}
