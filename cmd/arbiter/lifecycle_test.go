package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

const basic = `
workers = 2
graceful_timeout = "5s"
pidfile = "{{dir}}/arbiter.pid"
[[listen]]
address = "{{addr}}"
`

func TestStartServeStop(t *testing.T) {
	f := start(t, basic)
	pids := f.waitWorkers(2, 10*time.Second)
	seen := map[int]bool{}
	for range 20 {
		r := f.get("/hello?x=1")
		if r.Path != "/hello" || r.Query != "x=1" || r.Protocol != "http" || r.Generation != 1 {
			t.Fatalf("echo reply %+v", r)
		}
		if !contains(pids, r.PID) {
			t.Fatalf("served by pid %d, not a worker %v", r.PID, pids)
		}
		seen[r.PID] = true
	}
	pid, err := os.ReadFile(filepath.Join(f.dir, "arbiter.pid"))
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(f.srv.PID) {
		t.Fatalf("pidfile %q, %v; master is %d", pid, err, f.srv.PID)
	}

	f.srv.Signal(syscall.SIGTERM)
	if code := f.srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after TERM", code)
	}
	for _, p := range pids {
		if proctest.Alive(p) {
			t.Errorf("worker %d outlived the master", p)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "arbiter.pid")); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
}

func TestFastStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			f := start(t, basic)
			pids := f.waitWorkers(2, 10*time.Second)
			f.srv.Signal(sig)
			if code := f.srv.Wait(10 * time.Second); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			for _, p := range pids {
				if proctest.Alive(p) {
					t.Errorf("worker %d outlived the master", p)
				}
			}
		})
	}
}

func TestTTINTTOU(t *testing.T) {
	f := start(t, basic)
	before := f.waitWorkers(2, 10*time.Second)
	f.srv.Signal(syscall.SIGTTIN)
	three := f.waitWorkers(3, 10*time.Second)
	f.srv.Signal(syscall.SIGTTOU)
	two := f.waitWorkers(2, 15*time.Second)
	// TTOU retires the oldest worker.
	oldest := min(before[0], before[1])
	if contains(two, oldest) {
		t.Errorf("TTOU kept the oldest worker %d: %v -> %v -> %v", oldest, before, three, two)
	}
	// Never below one.
	f.srv.Signal(syscall.SIGTTOU)
	f.waitWorkers(1, 15*time.Second)
	f.srv.Signal(syscall.SIGTTOU)
	time.Sleep(500 * time.Millisecond)
	if n := len(f.workers()); n != 1 {
		t.Fatalf("TTOU went below one worker: %d", n)
	}
	f.get("/")
}

func TestKilledWorkerIsReplaced(t *testing.T) {
	f := start(t, basic)
	pids := f.waitWorkers(2, 10*time.Second)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 10*time.Second, "a replacement worker", func() bool {
		now := f.workers()
		return len(now) == 2 && !contains(now, pids[0])
	})
	f.get("/")
	if z := proctest.Zombies(f.srv.PID); len(z) > 0 {
		t.Fatalf("zombies: %v", z)
	}
}

// A stopped worker misses its heartbeats: after timeout it gets SIGABRT
// (and SIGCONT), its goroutine dump lands in the log under its pid, and a
// new worker takes its place.
func TestStuckWorkerIsAbortedWithDump(t *testing.T) {
	f := start(t, `
workers = 1
timeout = "2s"
[[listen]]
address = "{{addr}}"
`)
	pid := f.waitWorkers(1, 10*time.Second)[0]
	mark := f.srv.Count()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e, _ := f.srv.WaitEvent(mark, 15*time.Second, "the goroutine dump", func(e proctest.Event) bool {
		return e.Int("pid") == pid && e.Str("stream") == "output" && strings.Contains(e.Msg(), "goroutine ")
	})
	if !strings.Contains(e.Msg(), "SIGABRT") {
		t.Errorf("dump does not say SIGABRT: %.300s", e.Msg())
	}
	if e.Int("worker") < 1 {
		t.Errorf("dump not attributed to a worker: %v", e)
	}
	proctest.Eventually(t, 10*time.Second, "a replacement", func() bool {
		now := f.workers()
		return len(now) == 1 && now[0] != pid
	})
	f.get("/")
}

func TestMasterKilledLeavesNoWorkers(t *testing.T) {
	f := start(t, `
workers = 2
graceful_timeout = "2s"
[[listen]]
address = "{{addr}}"
`)
	pids := f.waitWorkers(2, 10*time.Second)
	if err := syscall.Kill(f.srv.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 5*time.Second, "workers to exit after the master died", func() bool {
		for _, p := range pids {
			if proctest.Alive(p) {
				return false
			}
		}
		return true
	})
}

func TestWINCHStopsWorkersKeepsMaster(t *testing.T) {
	f := start(t, basic)
	f.waitWorkers(2, 10*time.Second)
	f.srv.Signal(syscall.SIGWINCH)
	f.waitWorkers(0, 15*time.Second)
	if !proctest.Alive(f.srv.PID) {
		t.Fatal("master exited on WINCH")
	}
	f.srv.Signal(syscall.SIGTTIN)
	f.waitWorkers(1, 10*time.Second)
	f.get("/")
}

func TestPidfileRules(t *testing.T) {
	f := start(t, basic)
	// A second master with the same pidfile refuses to start (exit 7).
	second := proctest.Start(t, proctest.Build(t, "./cmd/arbiter"),
		[]string{"run", "--bind", proctest.FreeAddr(t), "--pidfile", filepath.Join(f.dir, "arbiter.pid")})
	if code := second.Wait(10 * time.Second); code != 7 {
		t.Fatalf("second master exit code %d, want 7", code)
	}
	f.get("/")
	// A stale pidfile (dead pid) does not stop a start.
	stale := filepath.Join(f.dir, "stale.pid")
	os.WriteFile(stale, []byte("999999999\n"), 0o644)
	third := proctest.Start(t, proctest.Build(t, "./cmd/arbiter"),
		[]string{"run", "--bind", proctest.FreeAddr(t), "--pidfile", stale, "--workers", "1"})
	third.WaitMsg(0, 20*time.Second, "generation ready")
	third.Signal(syscall.SIGTERM)
	if code := third.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("pidfile not removed")
	}
}

func TestUSR1ReopensLogs(t *testing.T) {
	f := startNoWait(t, `
workers = 1
[log]
file = "{{dir}}/arbiter.log"
access_log = "{{dir}}/access.log"
[[listen]]
address = "{{addr}}"
`)
	// The master logs to the file, so wait on the file instead of stderr.
	proctest.Eventually(t, 30*time.Second, "generation ready in the log file", func() bool {
		b, _ := os.ReadFile(filepath.Join(f.dir, "arbiter.log"))
		return strings.Contains(string(b), "generation ready")
	})
	f.get("/before")
	os.Rename(filepath.Join(f.dir, "arbiter.log"), filepath.Join(f.dir, "arbiter.log.1"))
	os.Rename(filepath.Join(f.dir, "access.log"), filepath.Join(f.dir, "access.log.1"))
	f.srv.Signal(syscall.SIGUSR1)
	proctest.Eventually(t, 5*time.Second, "new log files", func() bool {
		_, e1 := os.Stat(filepath.Join(f.dir, "arbiter.log"))
		_, e2 := os.Stat(filepath.Join(f.dir, "access.log"))
		return e1 == nil && e2 == nil
	})
	f.get("/after")
	proctest.Eventually(t, 5*time.Second, "the access line in the new file", func() bool {
		b, _ := os.ReadFile(filepath.Join(f.dir, "access.log"))
		return strings.Contains(string(b), `"/after"`)
	})
	old, _ := os.ReadFile(filepath.Join(f.dir, "access.log.1"))
	if !strings.Contains(string(old), `"/before"`) || strings.Contains(string(old), `"/after"`) {
		t.Fatalf("old access log: %s", old)
	}
	main, _ := os.ReadFile(filepath.Join(f.dir, "arbiter.log.1"))
	if !strings.Contains(string(main), "worker ready") {
		t.Fatalf("old main log lacks the master's lines: %s", main)
	}
}
