package worker

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/ipc"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

// blockedInGuardTest blocks until release is closed, whatever its context
// says: the stuck handler the guard must name and replace.
func blockedInGuardTest(release chan struct{}) { <-release }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A handler that ignores its cancelled context: 504, its stack in the log
// naming the frame it is stuck in, then a request for a replacement.
func TestGuardStuckHandler(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var logs testutil.Buffer
	var stuck atomic.Value
	h := newGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blockedInGuardTest(release)
		_, err := io.WriteString(w, "late")
		if err != http.ErrHandlerTimeout {
			t.Errorf("late write: %v, want http.ErrHandlerTimeout", err)
		}
	}), 100*time.Millisecond, 0, zerolog.New(&logs), func(reason string) { stuck.Store(reason) })
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d %q, want 504", resp.StatusCode, body)
	}
	lines := logs.Lines("request ran past request_timeout")
	if len(lines) != 1 || !strings.Contains(lines[0], "blockedInGuardTest") {
		t.Fatalf("timeout log lines %q do not name the stuck frame", lines)
	}
	waitFor(t, "the stuck report", func() bool { return stuck.Load() != nil })
	if r := stuck.Load().(string); r != ipc.RecycleRequestTimeout {
		t.Errorf("stuck reason %q", r)
	}
	if l := logs.Lines("did not return"); len(l) != 1 || !strings.Contains(l[0], "blockedInGuardTest") || !strings.Contains(l[0], "/x") {
		t.Errorf("stuck log lines %q", l)
	}
}

// A handler that returns when its context is cancelled is not stuck; its
// context's cause says why.
func TestGuardCancelledHandlerReturns(t *testing.T) {
	var logs testutil.Buffer
	cause := make(chan error, 1)
	h := newGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cause <- context.Cause(r.Context())
	}), 50*time.Millisecond, 0, zerolog.New(&logs), func(string) { t.Error("reported stuck") })
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if c := <-cause; c != errRequestTimeout {
		t.Errorf("cause %v", c)
	}
}

// Past the timeout after the response began, the connection is cut: the
// client must not take the part it got for the whole.
func TestGuardCutsBegunResponse(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		blockedInGuardTest(release)
	}), 100*time.Millisecond, 0, zerolog.Nop(), func(string) {})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("the cut response read as complete")
	}
}

// slow_request_log logs a running request once, with its stack, and the
// request still completes.
func TestGuardSlowLog(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Minute} {
		var logs testutil.Buffer
		release := make(chan struct{})
		h := newGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			blockedInGuardTest(release)
			io.WriteString(w, "ok")
		}), timeout, 20*time.Millisecond, zerolog.New(&logs), func(string) {})
		srv := httptest.NewServer(h)
		got := make(chan string, 1)
		go func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got <- string(b)
		}()
		waitFor(t, "the slow log line", func() bool { return len(logs.Lines("slow request")) > 0 })
		close(release)
		if b := <-got; b != "ok" {
			t.Errorf("timeout %s: reply %q", timeout, b)
		}
		srv.Close()
		if l := logs.Lines("slow request"); len(l) != 1 || !strings.Contains(l[0], "blockedInGuardTest") {
			t.Errorf("timeout %s: slow log lines %q", timeout, l)
		}
	}
}

// A handler panic reaches the server from the serving goroutine, with the
// handler's stack.
func TestGuardPanic(t *testing.T) {
	h := newGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}), time.Minute, 0, zerolog.Nop(), func(string) {})
	rec := httptest.NewRecorder()
	defer func() {
		p := recover()
		if s, _ := p.(string); !strings.HasPrefix(s, "boom") || !strings.Contains(s, "TestGuardPanic") {
			t.Errorf("panic %v", p)
		}
	}()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
}

// BenchmarkGuard is the guard's cost per request against the bare
// handler: go test -run - -bench Guard ./worker/
func BenchmarkGuard(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, bc := range []struct {
		name          string
		timeout, slow time.Duration
	}{{"bare", 0, 0}, {"slow_request_log", 0, time.Minute}, {"request_timeout", time.Minute, 0}} {
		h := newGuard(bare, bc.timeout, bc.slow, zerolog.Nop(), func(string) {})
		r := httptest.NewRequest("GET", "/", nil)
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
