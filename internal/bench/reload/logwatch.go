package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// logLine is one line of arbiter's log (JSON, one object per line), stamped
// with the time the benchmark read it: zerolog's own timestamps come from
// several processes and are only as good as their clocks, while the
// benchmark's clock is the one the throughput series uses.
type logLine struct {
	at     time.Time
	level  string
	msg    string
	pid    int
	fields map[string]any
	raw    string
}

// int returns a numeric field (0 when absent).
func (l logLine) int(name string) int {
	f, _ := l.fields[name].(float64)
	return int(f)
}

// logWatch reads a log stream to its end, copies it to a file and keeps
// every line for waiting on and for the report. The stream ends when every
// process holding the pipe's write end has exited, old and new masters and
// their workers alike.
type logWatch struct {
	mu    sync.Mutex
	lines []logLine
	done  chan struct{}
}

func watchLog(r io.ReadCloser, path string) (*logWatch, error) {
	f, err := os.Create(path)
	if err != nil {
		r.Close()
		return nil, err
	}
	w := &logWatch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer f.Close()
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			raw := sc.Text()
			_, _ = f.WriteString(raw + "\n")
			line := logLine{at: time.Now(), raw: raw}
			if err := json.Unmarshal([]byte(raw), &line.fields); err == nil {
				line.level, _ = line.fields["level"].(string)
				line.msg, _ = line.fields["message"].(string)
				line.pid = line.int("pid")
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

// mark returns the number of lines read so far, for wait.
func (w *logWatch) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lines)
}

// wait returns the first line at or after index from that matches, waiting
// up to timeout for it; false when none came in time or the stream ended.
func (w *logWatch) wait(from int, timeout time.Duration, match func(logLine) bool) (logLine, bool) {
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
			if w.mark() == from {
				return logLine{}, false
			}
			continue
		default:
		}
		if time.Now().After(deadline) {
			return logLine{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// snapshot returns every line read so far.
func (w *logWatch) snapshot() []logLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]logLine(nil), w.lines...)
}

// findAfter returns the first line at or after t that matches.
func findAfter(lines []logLine, t time.Time, match func(logLine) bool) (logLine, bool) {
	for _, l := range lines {
		if !l.at.Before(t) && match(l) {
			return l, true
		}
	}
	return logLine{}, false
}

func msgIs(msg string) func(logLine) bool {
	return func(l logLine) bool { return l.msg == msg }
}

func msgHasPrefix(prefix string) func(logLine) bool {
	return func(l logLine) bool { return strings.HasPrefix(l.msg, prefix) }
}
