package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkGoroutines fails t if the goroutines started during the test have
// not ended shortly after it.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie has exited: only its parent's wait is missing.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// startFamily starts a shell that starts a grandchild and prints its pid.
func startFamily(t *testing.T, ps *procSet, script string) (*proc, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout = w
	p, err := ps.start("sh", cmd)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	line := make([]byte, 32)
	n, err := r.Read(line)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	if err != nil {
		t.Fatalf("child pid %q: %v", line[:n], err)
	}
	return p, child
}

func TestKillAllEndsWholeGroups(t *testing.T) {
	checkGoroutines(t)
	ps := newProcSet()
	p1, c1 := startFamily(t, ps, "sleep 60 & echo $!; wait")
	p2, c2 := startFamily(t, ps, "trap '' TERM INT; sleep 60 & echo $!; wait")
	if !alive(c1) || !alive(c2) {
		t.Fatal("grandchildren did not start")
	}
	ps.killAll()
	for _, pid := range []int{p1.pid(), c1, p2.pid(), c2} {
		deadline := time.Now().Add(2 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("pid %d survived killAll", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if len(ps.live) != 0 {
		t.Errorf("%d processes still tracked", len(ps.live))
	}
}

func TestStopEscalates(t *testing.T) {
	checkGoroutines(t)
	ps := newProcSet()
	// Exits on TERM: a clean stop.
	p, _ := startFamily(t, ps, "trap 'exit 0' TERM; sleep 60 & echo $!; wait")
	if !ps.stop(context.Background(), p, syscall.SIGTERM, 5*time.Second) {
		t.Error("a process that exits on SIGTERM was not stopped cleanly")
	}
	// Ignores TERM: killed after the grace period, grandchild included.
	p, child := startFamily(t, ps, "trap '' TERM; sleep 60 & echo $!; wait")
	start := time.Now()
	if ps.stop(context.Background(), p, syscall.SIGTERM, 200*time.Millisecond) {
		t.Error("a process that ignores SIGTERM reported a clean stop")
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Error("stop did not wait for the grace period")
	}
	time.Sleep(50 * time.Millisecond)
	if alive(child) {
		t.Error("the grandchild survived")
	}
}

func TestOutput(t *testing.T) {
	checkGoroutines(t)
	ps := newProcSet()
	out, err := ps.output(context.Background(), "echo", exec.Command("sh", "-c", "echo hi; echo oops >&2"))
	if err != nil || string(out) != "hi\n" {
		t.Errorf("output = %q, %v", out, err)
	}
	_, err = ps.output(context.Background(), "fail", exec.Command("sh", "-c", "echo broken >&2; exit 3"))
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("failing command: err = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = ps.output(ctx, "sleep", exec.Command("sh", "-c", "sleep 60 & wait"))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled command: err = %v after %v", err, time.Since(start))
	}
	if len(ps.live) != 0 {
		t.Errorf("%d processes still tracked", len(ps.live))
	}
}

func TestLimitedBuffer(t *testing.T) {
	var b limitedBuffer
	chunk := make([]byte, outputLimit/2+1)
	for range 3 {
		if n, err := b.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if len(b.Bytes()) != outputLimit {
		t.Errorf("kept %d bytes, want %d", len(b.Bytes()), outputLimit)
	}
}
