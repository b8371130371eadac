package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logEntry is one JSON line of the master's log. zerolog writes a key twice
// when a field repeats (the master's own "pid" and then the worker's, in
// "worker ready"), so every value of a key is kept, in order.
type logEntry struct {
	fields map[string][]json.RawMessage
	at     time.Time // when the benchmark read the line
}

// parseLogLine parses one line of JSON-object log. Anything else (a blank
// line, a stack trace, trailing data after the object) is an error.
func parseLogLine(line []byte) (logEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return logEntry{}, fmt.Errorf("log line: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return logEntry{}, errors.New("log line: not a JSON object")
	}
	e := logEntry{fields: map[string][]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return logEntry{}, fmt.Errorf("log line: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return logEntry{}, errors.New("log line: object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return logEntry{}, fmt.Errorf("log line: value of %q: %w", key, err)
		}
		e.fields[key] = append(e.fields[key], v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return logEntry{}, fmt.Errorf("log line: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return logEntry{}, errors.New("log line: data after the object")
	}
	return e, nil
}

// str returns the last string value of key, or "".
func (e logEntry) str(key string) string {
	vs := e.fields[key]
	if len(vs) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(vs[len(vs)-1], &s) != nil {
		return ""
	}
	return s
}

// num returns the last integer value of key.
func (e logEntry) num(key string) (int, bool) {
	vs := e.fields[key]
	if len(vs) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(vs[len(vs)-1]))
	return n, err == nil
}

func (e logEntry) msg() string { return e.str("message") }

// logBook collects a master's log as it is written and lets the benchmark
// wait for a line.
type logBook struct {
	mu      sync.Mutex
	entries []logEntry
	tail    []string      // the last lines, JSON or not, for error messages
	changed chan struct{} // closed and replaced on every new line and at EOF
	eof     bool
}

const tailLines = 30

func newLogBook() *logBook { return &logBook{changed: make(chan struct{})} }

// read consumes r line by line until EOF (every writer of the pipe closed
// it: the master and its workers are gone).
func (b *logBook) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		e, err := parseLogLine(sc.Bytes())
		e.at = time.Now()
		b.mu.Lock()
		if err == nil {
			b.entries = append(b.entries, e)
		}
		b.tail = append(b.tail, line)
		if len(b.tail) > tailLines {
			b.tail = b.tail[len(b.tail)-tailLines:]
		}
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.eof = true
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// len returns the number of JSON lines read so far: a start index for wait.
func (b *logBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}

// all returns a copy of every JSON line read so far.
func (b *logBook) all() []logEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]logEntry(nil), b.entries...)
}

// wait returns the first entry at index from or later that match accepts,
// and its index. It fails when timeout passes, ctx ends or the log ends
// first; the error then carries the last lines of the log.
func (b *logBook) wait(ctx context.Context, from int, timeout time.Duration, what string, match func(logEntry) bool) (logEntry, int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		b.mu.Lock()
		for i := from; i < len(b.entries); i++ {
			if match(b.entries[i]) {
				e := b.entries[i]
				b.mu.Unlock()
				return e, i, nil
			}
		}
		from = len(b.entries)
		eof, changed := b.eof, b.changed
		b.mu.Unlock()
		if eof {
			return logEntry{}, 0, fmt.Errorf("waiting for %s: the master's log ended\n%s", what, b.tailText())
		}
		select {
		case <-changed:
		case <-t.C:
			return logEntry{}, 0, fmt.Errorf("waiting for %s: no such line after %v\n%s", what, timeout, b.tailText())
		case <-ctx.Done():
			return logEntry{}, 0, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

func (b *logBook) tailText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return "last lines of the log:\n  " + strings.Join(b.tail, "\n  ")
}
