package chaos

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/testutil"
)

var arbiterBin string

func TestMain(m *testing.M) {
	code := m.Run()
	if arbiterBin != "" {
		os.RemoveAll(strings.TrimSuffix(arbiterBin, "/arbiter"))
	}
	os.Exit(code)
}

// env builds arbiter once (without -race, as `make chaos` runs it: the
// scenarios time respawns) and returns an Env in a fresh directory.
func env(t *testing.T) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("runs arbiter under chaos")
	}
	if arbiterBin == "" {
		dir, err := os.MkdirTemp("", "arbiter-chaos-bin-")
		if err != nil {
			t.Fatal(err)
		}
		root, err := benchkit.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if arbiterBin, err = benchkit.GoBuild(ctx, root, dir, "./cmd/arbiter"); err != nil {
			t.Fatal(err)
		}
	}
	e := &Env{Bin: arbiterBin, Dir: t.TempDir(), Log: testWriter{t}}
	e.Wrk, _ = exec.LookPath("wrk")
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// run runs a scenario at Short scale and fails the test on a broken
// guarantee (not on a missed target) or a harness error.
func run(t *testing.T, name string) *Result {
	t.Helper()
	var sc *Scenario
	for i := range Scenarios {
		if Scenarios[i].Name == name {
			sc = &Scenarios[i]
		}
	}
	if sc == nil {
		t.Fatalf("no scenario %q", name)
	}
	testutil.CheckLeaks(t, "internal/bench/loadgen.", "internal/chaos.")
	e := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := sc.Execute(ctx, e, Short)
	var b strings.Builder
	r.Print(&b)
	t.Log("\n" + b.String())
	if r.Err != nil {
		t.Fatalf("harness: %v", r.Err)
	}
	if !r.Pass(false) {
		t.Errorf("broken: %+v", r.Broken(false))
	}
	return r
}

func TestKillWorker(t *testing.T) { run(t, "kill-worker") }

func TestKillMaster(t *testing.T) { run(t, "kill-master") }

func TestStopWorker(t *testing.T) { run(t, "sigstop") }

func TestHostile(t *testing.T) { run(t, "hostile") }

func TestSoak(t *testing.T) { run(t, "soak") }

func TestSlowloris(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("wrk is missing")
		}
		t.Skip("wrk is missing")
	}
	run(t, "slowloris")
}

func TestDisk(t *testing.T) { run(t, "disk") }
