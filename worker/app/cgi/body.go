package cgi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Spooling of request bodies whose length is not known in advance.
const (
	memSpool = 64 << 10 // bodies up to this size stay in memory
	maxSpool = 1 << 30  // larger bodies get 413
)

// errTooLarge: a spooled body passed maxSpool.
var errTooLarge = errors.New("request body larger than the spool limit")

// stdinSource is what a script reads on stdin: nothing (/dev/null), an
// open file, or a reader copied into a pipe as the script runs.
type stdinSource struct {
	file   *os.File
	reader io.Reader
	// unblock, if set, makes a pending read of reader fail at once, for a
	// reader that is the request body of an HTTP connection. It reports
	// whether it could.
	unblock func() bool
}

// spooled is a request body read in full before the script starts, so that
// CONTENT_LENGTH can be set: in memory, or in an unlinked temporary file.
type spooled struct {
	mem  []byte
	file *os.File
	n    int64
}

// spool reads body to its end: the first 64 KiB into memory, the rest into
// an unlinked temporary file in os.TempDir(). A body longer than 1 GiB
// gives errTooLarge; a read error (the client went away, a malformed chunk)
// is returned wrapped.
func spool(body io.Reader) (*spooled, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, memSpool+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if n <= memSpool {
		return &spooled{mem: buf.Bytes(), n: n}, nil
	}
	f, err := os.CreateTemp("", "arbiter-cgi-body-")
	if err != nil {
		return nil, fmt.Errorf("spool request body: %w", err)
	}
	os.Remove(f.Name())
	s := &spooled{file: f}
	if _, err := f.Write(buf.Bytes()); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool request body: %w", err)
	}
	rest, err := io.Copy(f, io.LimitReader(body, maxSpool+1-n))
	s.n = n + rest
	switch {
	case err != nil:
		s.Close()
		return nil, fmt.Errorf("read request body: %w", err)
	case s.n > maxSpool:
		s.Close()
		return nil, errTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool request body: %w", err)
	}
	return s, nil
}

// source is the spooled body as a script's stdin.
func (s *spooled) source() stdinSource {
	if s.file != nil {
		return stdinSource{file: s.file}
	}
	if s.n == 0 {
		return stdinSource{}
	}
	return stdinSource{reader: bytes.NewReader(s.mem)}
}

// Close removes the temporary file, if there is one.
func (s *spooled) Close() {
	if s.file != nil {
		s.file.Close()
	}
}

// declaresBody reports whether the request says it has a body: a
// Content-Length (even "0") or a transfer coding. For such a request the
// script gets CONTENT_LENGTH, even when it is 0.
func declaresBody(r *http.Request) bool {
	return r.ContentLength > 0 || len(r.TransferEncoding) > 0 || r.Header.Get("Content-Length") != ""
}
