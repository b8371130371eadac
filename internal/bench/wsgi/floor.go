package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

// floorTrips is how many exchanges testdata/roundtrip.py times.
const floorTrips = 100000

// printFloor measures and prints what one request/response exchange
// between two processes over a unix socket costs on this machine, with
// nothing else done (testdata/roundtrip.py): the least a server whose app
// runs in processes of its own pays per request beyond a server with the
// app inside (uWSGI). It runs after the rows, alone.
func printFloor(ctx context.Context, w io.Writer, python string) error {
	root, err := benchkit.ModuleRoot()
	if err != nil {
		return err
	}
	script := filepath.Join(root, "internal/bench/wsgi/testdata/roundtrip.py")
	out, err := exec.CommandContext(ctx, python, script, strconv.Itoa(floorTrips)).Output()
	if err != nil {
		return fmt.Errorf("floor: %s %s: %w", python, script, err)
	}
	us, err := parseFloor(string(out))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "floor: one request/response exchange between two processes over a unix socket, nothing else: %.1fµs of CPU\n"+
		"  (testdata/roundtrip.py, %d exchanges; the least an app in processes of its own adds per request to cpu/req)\n", us, floorTrips)
	return nil
}

// parseFloor reads roundtrip.py's "<µs> <exchanges>" line.
func parseFloor(out string) (float64, error) {
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, fmt.Errorf("floor: roundtrip.py printed %q", out)
	}
	us, err := strconv.ParseFloat(f[0], 64)
	if err != nil || us <= 0 {
		return 0, fmt.Errorf("floor: roundtrip.py printed %q", out)
	}
	return us, nil
}
