// Package testutil holds the small helpers the package tests share: a
// goroutine-safe buffer for log output and a goroutine-leak check.
package testutil

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent writers (a logger shared by
// server goroutines) and a reading test.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the lines written so far that contain substr.
func (s *Buffer) Lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if l != "" && strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// Leaked returns the stacks of running goroutines that mention any of
// markers (for example "arbiter/worker/fastcgi."), leaving out the caller's
// and the test framework's own.
func Leaked(markers ...string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || strings.Contains(g, "testing.tRunner") || strings.Contains(g, "testing.(*F)") ||
			strings.Contains(g, "testing.runFuzzing") {
			continue
		}
		for _, m := range markers {
			if strings.Contains(g, m) {
				leaked = append(leaked, g)
				break
			}
		}
	}
	return leaked
}

// WaitNoLeaks fails t unless, within 5 s, no goroutine mentions any of
// markers; goroutines that are winding down get that long to exit.
func WaitNoLeaks(t testing.TB, markers ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked := Leaked(markers...)
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines leaked; first:\n%s", len(leaked), leaked[0])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CheckLeaks runs WaitNoLeaks when the test ends.
func CheckLeaks(t testing.TB, markers ...string) {
	t.Helper()
	t.Cleanup(func() { WaitNoLeaks(t, markers...) })
}

// CheckGoroutines fails t if, once it ends, more goroutines run than when
// it was called (after 5 s of grace), for packages whose goroutines have no
// marker of their own (net/http servers).
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}
