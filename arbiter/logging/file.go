package logging

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// checkEvery is how often File checks that its path still names the file
// it writes to.
const checkEvery = time.Second

// File is a log file opened for appending (the master's log.file, a
// worker's log.access_log) that says what went wrong with it instead of
// failing the logger:
//
//   - A write that fails (ENOSPC, EIO) drops the line and counts it; the
//     first failure of a run is told to report. Once a write succeeds
//     again, a "log lines lost" line with the count and the error goes
//     first (after a newline, when a failed write left part of a line).
//     While lines are lost, File also tries to write that line every
//     second on its own, so that the count arrives when the disk frees
//     even if nothing else is logged. Write never returns an error, so that zerolog does not print
//     one complaint per event on stderr.
//   - At most every second, before a write, File checks that its path
//     still names the open file. When it was removed (rm, a tmp cleaner)
//     or replaced, File opens the path again (creating it) and writes a
//     "log file was removed" line there, and tells report; if the path
//     cannot be opened, the old file stays in use and that is reported
//     once.
//
// report may be nil. It is called with File's lock held and must not
// write to the File.
type File struct {
	path   string
	report func(msg string, err error)

	mu        sync.Mutex
	f         *os.File
	lost      int
	lostErr   error
	torn      bool // a failed write left part of a line in the file
	reopenErr bool // the last reopen after a removal failed (reported)
	checked   time.Time
	retry     *time.Timer // writes the lost-lines note while lines are lost
}

// OpenFile opens path for appending, creating it.
func OpenFile(path string, report func(msg string, err error)) (*File, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, report: report, f: f, checked: time.Now()}, nil
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

// Write writes one line (or drops it, see File).
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if now := time.Now(); now.Sub(l.checked) >= checkEvery {
		l.checked = now
		l.checkPath()
	}
	if n, err := l.writeLostLocked(); err != nil {
		return l.drop(len(p), n, err)
	}
	if n, err := l.f.Write(p); err != nil {
		return l.drop(len(p), n, err)
	}
	return len(p), nil
}

// writeLostLocked writes the "log lines lost" note when lines were lost,
// and then forgets them; on failure it returns what Write returned. l.mu
// is held.
func (l *File) writeLostLocked() (int, error) {
	if l.lost == 0 {
		return 0, nil
	}
	note := notice("error", "log lines lost", map[string]any{"lines": l.lost, "error": l.lostErr.Error(), "path": l.path})
	if l.torn {
		note = append([]byte("\n"), note...) // end the partial line first
	}
	if n, err := l.f.Write(note); err != nil {
		return n, err
	}
	l.lost, l.lostErr, l.torn = 0, nil, false
	return 0, nil
}

// drop counts a line that could not be written (written of its bytes
// were); it returns n and no error.
func (l *File) drop(n, written int, err error) (int, error) {
	l.torn = l.torn || written > 0
	if l.lost == 0 && l.report != nil {
		l.report("log file write failed; dropping lines until it works again", fmt.Errorf("%s: %w", l.path, err))
	}
	l.lost++
	l.lostErr = err
	if l.retry == nil {
		l.retry = time.AfterFunc(checkEvery, l.retryLost)
	}
	return n, nil
}

// retryLost tries to write the lost-lines note, every checkEvery until it
// is written or the File is closed.
func (l *File) retryLost() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil || l.lost == 0 {
		l.retry = nil
		return
	}
	if n, err := l.writeLostLocked(); err != nil {
		l.torn = l.torn || n > 0 // a part of the note is in the file
		l.lostErr = err
		l.retry.Reset(checkEvery)
		return
	}
	l.retry = nil
}

// checkPath reopens the path when it no longer names the open file.
func (l *File) checkPath() {
	open, err1 := l.f.Stat()
	named, err2 := os.Stat(l.path)
	if err1 == nil && err2 == nil && os.SameFile(open, named) {
		l.reopenErr = false
		return
	}
	f, err := openFile(l.path)
	if err != nil {
		if !l.reopenErr && l.report != nil {
			l.report("log file was removed and cannot be created again; still writing to the removed file", err)
		}
		l.reopenErr = true
		return
	}
	old := l.f
	l.f = f
	l.reopenErr = false
	old.Close()
	_, _ = l.f.Write(notice("warn", "log file was removed or replaced; reopened it", map[string]any{"path": l.path}))
	if l.report != nil {
		l.report("log file was removed or replaced; reopened it", fmt.Errorf("%s", l.path))
	}
}

// Reopen opens the path again (USR1, after logrotate moved the file). On
// failure the old file stays in use.
func (l *File) Reopen() error {
	f, err := openFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f, l.checked = f, time.Now()
	l.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes the file; later writes fail with os.ErrClosed. Lines lost
// since the last write that worked are told to report.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if l.lost > 0 && l.report != nil {
		l.report("log file closed with lines lost", fmt.Errorf("%s: %d lines: %w", l.path, l.lost, l.lostErr))
	}
	if l.retry != nil {
		l.retry.Stop()
		l.retry = nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// notice is one JSON log line of File's own.
func notice(level, msg string, fields map[string]any) []byte {
	fields["level"] = level
	fields["pid"] = os.Getpid()
	fields["time"] = time.Now().Format(time.RFC3339Nano)
	fields["message"] = msg
	b, _ := json.Marshal(fields)
	return append(b, '\n')
}
