package main

import (
	"context"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
	"github.com/arbiter-dev/arbiter/internal/procfs"
	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// The harness drives a real arbiter: every kind of event is sent to the
// master in charge, the USR2 hand-off is followed through the pidfile,
// completions come from the log, and the stop leaves nothing behind.
func TestArbiterHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs arbiter")
	}
	testutil.CheckLeaks(t, "loadgen.(*Load)", "benchkit.WatchLog")
	dir := t.TempDir()
	root, err := benchkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := benchkit.GoBuild(context.Background(), root, dir, "./cmd/arbiter")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := startArbiterHTTP(&env{arbiterBin: bin, workers: 1}, dir)
	if err != nil {
		t.Fatal(err)
	}
	a := tg.(*arbiterTarget)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			a.stop()
		}
	})
	first, err := a.Master()
	if err != nil || first != a.PGID {
		t.Fatalf("pidfile names %d (%v), want the first master %d", first, err, a.PGID)
	}

	l := loadgen.Start(context.Background(), loadgen.Options{Addr: a.addr(), Request: loadgen.Request("POST", "/", "bench-reload-test"),
		Conns: 4, Timeout: 5 * time.Second, Duration: 10 * time.Second})
	kinds := []string{evHUP, evTTIN, evUSR2, evTTOU, evHUP}
	evs, unsent := sendEvents(context.Background(), a, kinds, l.Since, 200*time.Millisecond, 2*time.Second, time.Minute, 30*time.Second)
	// Under load the last events (a TTOU's drain, a HUP's new generation)
	// can complete seconds after they were sent: wait for their lines in
	// the log, not for a fixed time.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		a.completions(evs, l.Began())
		if allTookEffect(evs) {
			break
		}
	}
	l.Stop()
	ok, fails, _ := l.Result(100)
	if unsent != 0 || len(evs) != len(kinds) {
		t.Fatalf("sent %d events, %d unsent", len(evs), unsent)
	}
	for _, ev := range evs {
		if ev.err != nil {
			t.Fatalf("%s: %v", ev.kind, ev.err)
		}
	}
	second, err := a.Master()
	if err != nil || second == first || evs[3].pid != second || evs[2].pid != first {
		t.Fatalf("after USR2: pidfile %d (%v); USR2 went to %d, TTOU to %d; first master %d",
			second, err, evs[2].pid, evs[3].pid, first)
	}
	if procfs.Alive(first) {
		t.Fatalf("the old master %d is still running", first)
	}
	a.completions(evs, l.Began())
	for _, ev := range evs {
		if ev.done < ev.at {
			t.Errorf("%s at %v: took effect at %v (%s)", ev.kind, ev.at, ev.done, ev.note)
		}
	}
	t.Logf("%d ok, %d failed; events %+v", ok, len(fails), evs)
	if ok == 0 {
		t.Fatal("no request succeeded")
	}
	stopped = true
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if left := procfs.Group(a.PGID); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// allTookEffect reports whether every event sent has its completion (the
// USR2 hand-off is complete once sent).
func allTookEffect(evs []event) bool {
	for _, ev := range evs {
		if ev.err == nil && ev.kind != evUSR2 && ev.done < ev.at {
			return false
		}
	}
	return true
}
