package logging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

func TestSinkReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "arbiter.log")
	s, err := Open(config.Log{File: path, Format: "json"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := s.Logger("info")
	log.Info().Msg("one")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("two") // still the renamed file
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("three")
	log.Debug().Msg("hidden")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "two") || !strings.Contains(string(cur), "three") || strings.Contains(string(cur), "two") {
		t.Fatalf("old=%q new=%q", old, cur)
	}
	if strings.Contains(string(cur), "hidden") {
		t.Fatal("debug line written at info level")
	}
}

func TestConsoleFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	s, err := Open(config.Log{File: path, Format: "console"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	lg := s.Logger("info")
	lg.Info().Int("worker", 2).Msg("hello")
	s.Write([]byte("not json\n"))
	s.Close()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "hello") || !strings.Contains(string(b), "worker=2") || strings.HasPrefix(string(b), "{") {
		t.Fatalf("console output: %q", b)
	}
	if !strings.Contains(string(b), "not json") {
		t.Fatalf("raw line lost: %q", b)
	}
}
