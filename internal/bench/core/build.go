package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

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
