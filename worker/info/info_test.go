package info

import (
	"context"
	"testing"
)

func TestSelfAndProtocol(t *testing.T) {
	self.Store(nil) // the identity is process-wide; start from none, leave none
	t.Cleanup(func() { self.Store(nil) })
	if _, ok := Self(); ok {
		t.Fatal("Self reported a worker before Set")
	}
	Set(Worker{ID: 3, Generation: 2, PID: 99})
	if w, ok := Self(); !ok || w.ID != 3 || w.Generation != 2 || w.PID != 99 {
		t.Fatalf("Self() = %+v, %v", w, ok)
	}
	if p := Protocol(WithProtocol(context.Background(), "scgi")); p != "scgi" {
		t.Fatalf("Protocol = %q", p)
	}
	if p := Protocol(context.Background()); p != "" {
		t.Fatalf("untagged Protocol = %q", p)
	}
}
