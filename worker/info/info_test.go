package info

import (
	"context"
	"crypto/tls"
	"net/http"
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

func TestScheme(t *testing.T) {
	r, _ := http.NewRequest("GET", "/", nil)
	if s := Scheme(r); s != "http" {
		t.Errorf("plain: %q", s)
	}
	r.TLS = &tls.ConnectionState{}
	if s := Scheme(r); s != "https" {
		t.Errorf("TLS: %q", s)
	}
	if s := Scheme(r.WithContext(WithScheme(r.Context(), "http"))); s != "http" {
		t.Errorf("a trusted proxy's http over arbiter's TLS: %q", s)
	}
}
