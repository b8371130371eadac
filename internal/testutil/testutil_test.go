package testutil

import (
	"fmt"
	"testing"
	"time"
)

func parkedHere(stop chan struct{}) { <-stop }

func TestLeaked(t *testing.T) {
	stop := make(chan struct{})
	go parkedHere(stop)
	time.Sleep(10 * time.Millisecond)
	if n := len(Leaked("testutil.parkedHere")); n != 1 {
		t.Fatalf("found %d parked goroutines, want 1", n)
	}
	close(stop)
	WaitNoLeaks(t, "testutil.parkedHere")
}

func TestBuffer(t *testing.T) {
	var b Buffer
	fmt.Fprintln(&b, "one bad input")
	fmt.Fprintln(&b, "two fine")
	fmt.Fprintln(&b, "three bad input")
	if got := b.Lines("bad input"); len(got) != 2 || got[1] != "three bad input" {
		t.Fatalf("Lines = %q", got)
	}
}
