package benchkit

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// LogLine is one line of arbiter's log (JSON, one object per line), stamped
// with the time the harness read it: zerolog's own timestamps come from
// several processes and are only as good as their clocks, while the
// harness's clock is the one its load generator uses.
type LogLine struct {
	At     time.Time
	Level  string
	Msg    string
	PID    int
	Fields map[string]any // nil when the line is not a JSON object
	Raw    string
}

// Int returns a numeric field (0 when absent).
func (l LogLine) Int(name string) int {
	f, _ := l.Fields[name].(float64)
	return int(f)
}

// Str returns a string field ("" when absent).
func (l LogLine) Str(name string) string {
	s, _ := l.Fields[name].(string)
	return s
}

// LogWatch reads a log stream to its end, copies it to a file and keeps
// every line for waiting on and for reports. The stream ends when every
// process holding the pipe's write end has exited, old and new masters and
// their workers alike.
type LogWatch struct {
	mu    sync.Mutex
	lines []LogLine
	done  chan struct{}
}

// WatchLog starts reading r, copying it to a new file at path.
func WatchLog(r io.ReadCloser, path string) (*LogWatch, error) {
	f, err := os.Create(path)
	if err != nil {
		r.Close()
		return nil, err
	}
	w := &LogWatch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer f.Close()
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			raw := sc.Text()
			_, _ = f.WriteString(raw + "\n")
			line := LogLine{At: time.Now(), Raw: raw}
			if err := json.Unmarshal([]byte(raw), &line.Fields); err == nil {
				line.Level = line.Str("level")
				line.Msg = line.Str("message")
				line.PID = line.Int("pid")
			}
			w.mu.Lock()
			w.lines = append(w.lines, line)
			w.mu.Unlock()
		}
		// A read error (or a line over 4 MiB) ends the copy; drain the rest
		// so that no writer blocks on a full pipe.
		_, _ = io.Copy(io.Discard, r)
	}()
	return w, nil
}

// Mark returns the number of lines read so far, for Wait.
func (w *LogWatch) Mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// Wait returns the first line at or after index from that matches, waiting
// up to timeout for it; false when none came in time or the stream ended.
func (w *LogWatch) Wait(from int, timeout time.Duration, match func(LogLine) bool) (LogLine, bool) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		lines := w.lines[min(from, len(w.lines)):]
		w.mu.Unlock()
		for _, l := range lines {
			if match(l) {
				return l, true
			}
		}
		from += len(lines)
		select {
		case <-w.done:
			if w.Mark() == from {
				return LogLine{}, false
			}
			continue
		default:
		}
		if time.Now().After(deadline) {
			return LogLine{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Snapshot returns every line read so far.
func (w *LogWatch) Snapshot() []LogLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]LogLine(nil), w.lines...)
}

// Done is closed when the stream has ended and every line is read.
func (w *LogWatch) Done() <-chan struct{} { return w.done }

// FindAfter returns the first line at or after t that matches.
func FindAfter(lines []LogLine, t time.Time, match func(LogLine) bool) (LogLine, bool) {
	for _, l := range lines {
		if !l.At.Before(t) && match(l) {
			return l, true
		}
	}
	return LogLine{}, false
}

// MsgIs matches a line whose message is msg.
func MsgIs(msg string) func(LogLine) bool {
	return func(l LogLine) bool { return l.Msg == msg }
}

// MsgHasPrefix matches a line whose message starts with prefix.
func MsgHasPrefix(prefix string) func(LogLine) bool {
	return func(l LogLine) bool { return strings.HasPrefix(l.Msg, prefix) }
}

// TailLines returns the last n lines, indented, one per line.
func TailLines(lines []LogLine, n int) string {
	var b strings.Builder
	for _, l := range lines[max(0, len(lines)-n):] {
		b.WriteString("  " + l.Raw + "\n")
	}
	return b.String()
}

// Clip cuts s to n bytes, marking the cut, for reports and errors.
func Clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
