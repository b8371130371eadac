package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const modulePath = "github.com/arbiter-dev/arbiter"

// binaries are the programs the benchmark runs.
type binaries struct {
	arbiter  string // ./cmd/arbiter
	hello    string // ./internal/bench/core/hello, library mode
	baseline string // ./internal/bench/core/baseline, single-process net/http
}

// build compiles the three programs into dir with one `go build`, without
// -race (GOFLAGS is cleared so that a -race there does not sneak in).
func build(ctx context.Context, ps *procSet, root, dir string) (binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return binaries{}, fmt.Errorf("build: %w", err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return binaries{}, fmt.Errorf("build: %w", err)
	}
	cmd := exec.Command(gobin, "build", "-o", dir+string(filepath.Separator),
		"./cmd/arbiter", "./internal/bench/core/hello", "./internal/bench/core/baseline")
	cmd.Dir = root
	cmd.Env = append(withoutEnv(os.Environ(), "GOFLAGS"), "GOFLAGS=")
	if _, err := ps.output(ctx, "go build", cmd); err != nil {
		return binaries{}, fmt.Errorf("build: %w", err)
	}
	return binaries{
		arbiter:  filepath.Join(dir, "arbiter"),
		hello:    filepath.Join(dir, "hello"),
		baseline: filepath.Join(dir, "baseline"),
	}, nil
}

// moduleRoot finds arbiter's go.mod in the working directory or above it
// (`make` and `go run` start the benchmark at the module root).
func moduleRoot() (string, error) {
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
