package logging

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type reports []string

func (r *reports) add(msg string, err error) { *r = append(*r, msg+": "+err.Error()) }

func lines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// Lines that cannot be written (a full disk: /dev/full) are counted, told
// once, and the count is written first once writes work again.
func TestFileLostLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var rep reports
	l, err := OpenFile(path, rep.add)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	good := l.f
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	l.f = full
	for range 2 {
		if n, err := l.Write([]byte(`{"message":"lost"}` + "\n")); err != nil || n == 0 {
			t.Fatalf("Write on a full disk = %d, %v; want no error", n, err)
		}
	}
	if len(rep) != 1 || !strings.Contains(rep[0], "no space left") {
		t.Fatalf("reports %q, want one about the full disk", rep)
	}
	l.Write([]byte(`{"message":"lost"}` + "\n"))
	l2 := &File{path: path, report: rep.add, f: full, lost: 2, lostErr: errors.New("no space left on device")}
	l2.Close()
	if len(rep) != 2 || !strings.Contains(rep[1], "closed with lines lost") || !strings.Contains(rep[1], "2 lines") {
		t.Fatalf("reports %q, want one about the lines lost at Close", rep)
	}
	l.f = good
	l.Write([]byte(`{"message":"after"}` + "\n"))
	got := lines(t, path)
	if len(got) != 2 || got[0]["message"] != "log lines lost" || got[0]["lines"] != 3.0 ||
		!strings.Contains(got[0]["error"].(string), "no space left") || got[1]["message"] != "after" {
		t.Fatalf("file %v", got)
	}
}

// Once the disk frees, the count of lost lines is written even when nothing
// else is logged.
func TestFileLostLinesToldWithoutAnotherWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	l.mu.Lock()
	good := l.f
	l.f = full
	l.mu.Unlock()
	l.Write([]byte(`{"message":"lost"}` + "\n"))
	l.mu.Lock()
	l.f = good // the disk frees
	l.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(path); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no lost-lines line 10 s after the disk freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := lines(t, path); len(got) != 1 || got[0]["message"] != "log lines lost" || got[0]["lines"] != 1.0 {
		t.Fatalf("file %v", got)
	}
	full.Close()
}

// A file removed under the writer is created again at the next check, with
// a line that says so; a path that cannot be created is told once.
func TestFileRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "log")
	var rep reports
	l, err := OpenFile(path, rep.add)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte(`{"message":"first"}` + "\n"))
	os.Remove(path)
	l.checked = time.Now().Add(-checkEvery) // due for a check
	l.Write([]byte(`{"message":"second"}` + "\n"))
	got := lines(t, path)
	if len(got) != 2 || got[0]["message"] != "log file was removed or replaced; reopened it" || got[1]["message"] != "second" {
		t.Fatalf("file %v", got)
	}
	if len(rep) != 1 {
		t.Fatalf("reports %q", rep)
	}
	os.RemoveAll(dir)
	for range 2 {
		l.checked = time.Now().Add(-checkEvery)
		if _, err := l.Write([]byte(`{"message":"third"}` + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if len(rep) != 2 || !strings.Contains(rep[1], "cannot be created again") {
		t.Fatalf("reports %q, want one more about the missing directory", rep)
	}
}
