package benchkit

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/testutil"
)

func TestLogWatch(t *testing.T) {
	testutil.CheckLeaks(t, "benchkit.WatchLog")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "log")
	lw, err := WatchLog(r, path)
	if err != nil {
		t.Fatal(err)
	}
	const first = `{"level":"info","pid":10,"generation":2,"message":"generation ready"}` + "\n"
	io.WriteString(w, first)
	l, ok := lw.Wait(0, 5*time.Second, MsgIs("generation ready"))
	if !ok || l.PID != 10 || l.Int("generation") != 2 || l.Level != "info" || l.Int("absent") != 0 || l.Str("message") != "generation ready" {
		t.Fatalf("wait = %+v, %v", l, ok)
	}
	mark := lw.Mark()
	if mark != 1 {
		t.Fatalf("mark = %d", mark)
	}
	// An earlier line does not match after the mark; a later one does.
	go func() {
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "panic: not JSON\n")
		io.WriteString(w, `{"level":"info","pid":11,"message":"promoted: the old master is gone; this master is in charge"}`+"\n")
	}()
	l, ok = lw.Wait(mark, 5*time.Second, MsgHasPrefix("promoted:"))
	if !ok || l.PID != 11 {
		t.Fatalf("wait after mark = %+v, %v", l, ok)
	}
	if _, ok := lw.Wait(0, 50*time.Millisecond, MsgIs("never")); ok {
		t.Fatal("matched a line that was never written")
	}
	w.Close()
	// At the end of the stream, wait gives up without its timeout.
	start := time.Now()
	if _, ok := lw.Wait(0, time.Minute, MsgIs("never")); ok || time.Since(start) > 30*time.Second {
		t.Fatalf("wait at EOF: %v after %v", ok, time.Since(start))
	}
	<-lw.Done()
	lines := lw.Snapshot()
	if len(lines) != 3 || lines[1].Fields != nil || lines[1].Raw != "panic: not JSON" {
		t.Fatalf("lines %+v", lines)
	}
	if l, ok := FindAfter(lines, lines[1].At, MsgIs("generation ready")); ok {
		t.Fatalf("findAfter found %+v, which came before", l)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != first+"panic: not JSON\n"+`{"level":"info","pid":11,"message":"promoted: the old master is gone; this master is in charge"}`+"\n" {
		t.Fatalf("file: %q, %v", b, err)
	}
}
