package benchkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath is the module the benchmarks build from.
const modulePath = "github.com/arbiter-dev/arbiter"

// GoBuild builds pkg (relative to the module root) into dir and returns
// the binary's path. It builds without -race: GOFLAGS is cleared, so that
// a -race there does not sneak into a speed measurement.
func GoBuild(ctx context.Context, root, dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=") // the last value wins
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// ArbiterBinary returns the arbiter binary a benchmark runs, as an
// absolute path: given (a program's -arbiter flag) when it is not empty,
// else ./cmd/arbiter of the working tree built into dir. It never picks up
// a bin/arbiter it was not given: one left from an older build would
// measure old code under the new code's name (the make targets pass the
// bin/arbiter they have just built).
func ArbiterBinary(ctx context.Context, given, dir string) (string, error) {
	if given != "" {
		return filepath.Abs(given)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin, err := GoBuild(ctx, root, dir, "./cmd/arbiter")
	if err != nil {
		return "", err
	}
	return filepath.Abs(bin)
}

// ModuleRoot finds arbiter's go.mod in the working directory or above it
// (make and go run start the benchmarks at the module root).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isModule(string(b)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod of " + modulePath + " in the working directory or above; run from the repository")
		}
		dir = parent
	}
}

func isModule(gomod string) bool {
	for line := range strings.Lines(gomod) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == modulePath {
			return true
		}
	}
	return false
}

// IsFile reports whether p is a regular file.
func IsFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
