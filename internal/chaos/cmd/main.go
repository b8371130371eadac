// Command cmd is `make chaos`: arbiter's reliability scenarios
// (internal/chaos) at full scale, each reporting its figures and whether
// every guarantee held:
//
//	go run ./internal/chaos/cmd [-scenarios kill-worker,kill-master] [-short] [-keep]
//
// It builds arbiter (without -race) into a temporary directory unless
// -arbiter names a binary. The exit status is 0 when every check held,
// performance targets included; 1 when one did not, or when the harness
// itself failed (a build, a server that does not start); 2 for a bad
// command line.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
	"github.com/arbiter-dev/arbiter/internal/chaos"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

func main() {
	var (
		list  = flag.String("scenarios", "", "comma-separated scenarios (default all: "+names()+")")
		bin   = flag.String("arbiter", "", "arbiter binary (default: build ./cmd/arbiter)")
		short = flag.Bool("short", false, "run at the tests' scale, in seconds")
		keep  = flag.Bool("keep", false, "keep the scratch directory (configs, logs)")
	)
	flag.Parse()
	scs, err := pick(*list)
	if err != nil || flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chaos: %v\nusage: chaos [-scenarios a,b] [-arbiter BIN] [-short] [-keep]\n", err)
		os.Exit(2)
	}
	if err := benchkit.CloseInherited(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, scs, *bin, *short, *keep))
}

func run(ctx context.Context, scs []chaos.Scenario, bin string, short, keep bool) int {
	dir, err := os.MkdirTemp("", "arbiter-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if keep {
			fmt.Printf("scratch directory kept: %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	if bin == "" {
		root, err := benchkit.ModuleRoot()
		if err == nil {
			bin, err = benchkit.GoBuild(ctx, root, dir, "./cmd/arbiter")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	e := &chaos.Env{Bin: bin, Dir: dir, Log: os.Stderr}
	if wrk, err := exec.LookPath("wrk"); err == nil {
		e.Wrk = wrk
	}
	scale, scaleName := chaos.Full, "full"
	if short {
		scale, scaleName = chaos.Short, "short"
	}
	fmt.Printf("chaos: %d CPUs, %s scale, arbiter %s, started %s, load average %.2f\n\n",
		runtime.NumCPU(), scaleName, bin, time.Now().Format(time.RFC3339), procfs.LoadAverage())
	status := 0
	var failed []string
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(os.Stderr, "chaos: running %s\n", sc.Name)
		r := sc.Execute(ctx, e, scale)
		r.Print(os.Stdout)
		fmt.Printf("   (load average after it: %.2f)\n", procfs.LoadAverage())
		fmt.Println()
		if !r.Pass(true) {
			status = 1
			failed = append(failed, r.Name)
		}
	}
	if ctx.Err() != nil {
		fmt.Println("chaos: interrupted")
		return 1
	}
	if status == 0 {
		fmt.Println("chaos: every guarantee and target held")
	} else {
		fmt.Printf("chaos: broken in %s\n", strings.Join(failed, ", "))
	}
	return status
}

func names() string {
	var n []string
	for _, sc := range chaos.Scenarios {
		n = append(n, sc.Name)
	}
	return strings.Join(n, ", ")
}

// pick returns the scenarios named in list, all of them for "".
func pick(list string) ([]chaos.Scenario, error) {
	if list == "" {
		return chaos.Scenarios, nil
	}
	var out []chaos.Scenario
	for _, name := range strings.Split(list, ",") {
		found := false
		for _, sc := range chaos.Scenarios {
			if sc.Name == strings.TrimSpace(name) {
				out = append(out, sc)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q; known: %s", name, names())
		}
	}
	return out, nil
}
