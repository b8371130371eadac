package benchkit

import (
	"path/filepath"
	"testing"
)

func TestIsModule(t *testing.T) {
	if !isModule("// c\nmodule github.com/arbiter-dev/arbiter\n\ngo 1.26\n") {
		t.Error("the arbiter module not recognised")
	}
	if isModule("module github.com/arbiter-dev/arbiter/v2\n") || isModule("require github.com/arbiter-dev/arbiter v1\n") {
		t.Error("another module taken for arbiter")
	}
}

// ModuleRoot, run from a package directory, finds the repository root.
func TestModuleRoot(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if !IsFile(filepath.Join(root, "go.mod")) || !IsFile(filepath.Join(root, "cmd", "arbiter", "main.go")) {
		t.Fatalf("ModuleRoot = %s: not the repository root", root)
	}
	if IsFile(root) || IsFile(filepath.Join(root, "no-such-file")) {
		t.Error("IsFile true for a directory or a missing file")
	}
}
