package logging

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestCapture(t *testing.T) {
	pr, pw := io.Pipe()
	var out syncBuf
	log := zerolog.New(&out).With().Int("worker", 7).Int("pid", 1234).Logger()
	done := make(chan struct{})
	go func() { Capture(pr, &out, log, 50*time.Millisecond); close(done) }()

	io.WriteString(pw, `{"level":"info","worker":7,"message":"own line"}`+"\n")
	io.WriteString(pw, "SIGABRT: abort\nPC=0x1 m=0\n\ngoroutine 1 [running]:\nmain.main()\n")
	time.Sleep(200 * time.Millisecond)
	io.WriteString(pw, "later line without newline")
	pw.Close()
	<-done

	var events []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		events = append(events, e)
	}
	if len(events) != 3 {
		t.Fatalf("got %d events: %s", len(events), out.String())
	}
	if events[0]["message"] != "own line" {
		t.Errorf("JSON line not passed through: %v", events[0])
	}
	dump, _ := events[1]["message"].(string)
	if !strings.Contains(dump, "SIGABRT: abort") || !strings.Contains(dump, "goroutine 1 [running]") ||
		events[1]["worker"] != float64(7) || events[1]["pid"] != float64(1234) {
		t.Errorf("dump not one attributed event: %v", events[1])
	}
	if events[2]["message"] != "later line without newline" {
		t.Errorf("tail not flushed at EOF: %v", events[2])
	}
}

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
