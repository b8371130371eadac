package master_test

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/internal/testutil"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker"
)

// TestMain doubles as the worker: the master under test re-executes this
// test binary, which then serves as a worker instead of running tests.
func TestMain(m *testing.M) {
	if doc := os.Getenv(ipc.EnvBoot); doc != "" {
		os.Unsetenv(ipc.EnvBoot)
		boot, err := ipc.DecodeBoot(doc)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(master.ExitWorkerBoot)
		}
		if err := worker.Run(boot, worker.App{}, zerolog.New(os.Stderr).Level(zerolog.InfoLevel)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(master.ExitWorkerBoot)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// After 200 respawns the master holds no extra fds or goroutines and has
// no zombie children.
func TestRespawnsLeakNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("200 respawns")
	}
	cfg, err := config.Parse("", []byte(fmt.Sprintf("workers = 1\ngraceful_timeout = \"3s\"\n[[listen]]\naddress = %q\n", proctest.FreeAddr(t))),
		config.Overrides{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	m := master.New(master.Options{
		Config: cfg, Log: zerolog.New(logs).With().Timestamp().Logger(),
		Executable: os.Args[0], Args: []string{os.Args[0], "-test.run=^$"},
	})
	done := make(chan error, 1)
	go func() { done <- m.Run() }()

	waitReady := func(n int) {
		t.Helper()
		proctest.Eventually(t, 30*time.Second, fmt.Sprintf("%d workers ready", n), func() bool { return len(logs.Lines(`"message":"worker ready"`)) >= n })
	}
	waitReady(1)
	time.Sleep(200 * time.Millisecond)
	baseFDs := proctest.FDs(os.Getpid())
	baseGoroutines := runtime.NumGoroutine()

	const respawns = 200
	for i := 1; i <= respawns; i++ {
		kids := proctest.Children(os.Getpid())
		if len(kids) != 1 {
			t.Fatalf("respawn %d: %d children", i, len(kids))
		}
		if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitReady(i + 1)
	}

	proctest.Eventually(t, 10*time.Second, "fds and goroutines back to the baseline", func() bool {
		return proctest.FDs(os.Getpid()) <= baseFDs && runtime.NumGoroutine() <= baseGoroutines
	})
	if z := proctest.Zombies(os.Getpid()); len(z) > 0 {
		t.Fatalf("zombies after %d respawns: %v", respawns, z)
	}
	if n := len(logs.Lines(`"message":"worker exited"`)); n != respawns {
		t.Fatalf("%d exits logged, want %d", n, respawns)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("master did not stop on TERM")
	}
	if kids := proctest.Children(os.Getpid()); len(kids) > 0 {
		t.Fatalf("children left after stop: %v", kids)
	}
	t.Logf("200 respawns: fds %d → %d, goroutines %d → %d", baseFDs, proctest.FDs(os.Getpid()), baseGoroutines, runtime.NumGoroutine())
}
