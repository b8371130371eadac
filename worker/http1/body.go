package http1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars/oneshot"
)

// aLongTimeAgo is a deadline in the past: setting it unblocks a pending Read.
var aLongTimeAgo = time.Unix(1, 0)

// testHookWatch is called as a watch starts.
var testHookWatch = func() {}

// body is a request's Body: ContentLength bytes from the connection's
// reader. Once the body has been read to its end and the handler has run
// for oneshot.WatchAfter, a goroutine watches the connection: the client closing
// it cancels the request context with oneshot.ErrPeerGone, and the first
// byte of a pipelined request ends the watch and stays in the buffer for
// the next request.
type body struct {
	c         *conn
	cancel    context.CancelCauseFunc
	counted   bool      // ContentLength > 0: the handler may read from the connection
	deadline  time.Time // the read deadline for the body (ReadTimeout), zero for none
	remaining int64

	mu     sync.Mutex
	eof    bool // the whole body has been read
	closed bool // by the handler (Close) or after it returned
	done   bool // the handler returned
	err    error
	watch  oneshot.Watch
}

// Read reads the body; one that ends early gives io.ErrUnexpectedEOF and
// ends the request context. After Close, or once the handler has returned,
// Read returns http.ErrBodyReadAfterClose.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	case b.eof:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.eof = true
		b.startWatchLocked()
		return n, nil
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
			b.cancel(oneshot.ErrPeerGone)
		} else {
			b.cancel(err)
		}
		b.err = err
	}
	return n, err
}

// Close makes further reads fail; it does not read the rest of the body.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// hold reports, as the response's header block goes out, whether the
// connection can be kept: no drain has begun, and what is left of the body
// is little enough to read and throw away after the handler. When the
// handler has returned (the header goes out at the end), the rest is read
// now, as net/http does before it writes the header: a body that ends
// early, or does not come within the read deadline, makes the response
// say Connection: close, instead of a response that promised to keep the
// connection before it closes.
func (b *body) hold() bool {
	if b.c.srv.draining.Load() {
		return false
	}
	b.mu.Lock()
	keep := b.eof || b.remaining <= maxDiscardBytes
	readNow := keep && b.done && !b.eof && b.err == nil
	b.mu.Unlock()
	if readNow {
		return b.discard()
	}
	// A body whose read already failed in the handler keeps the header
	// as it is (net/http's discard then sees its EOF and says nothing);
	// the connection closes after the response.
	return keep
}

// startWatchLocked starts the watch (in oneshot.WatchAfter).
func (b *body) startWatchLocked() {
	if !b.closed {
		b.watch.Start(b.c.rwc, b.watchPeer)
	}
}

func (b *body) watchPeer() {
	testHookWatch()
	_, err := b.c.br.Peek(1)
	if err != nil && !isTimeout(err) {
		b.cancel(oneshot.ErrPeerGone)
	}
	// Else a pipelined request came, or close stopped the watch.
}

// close ends the body once the handler has returned: a read still blocked
// in a goroutine the handler left behind is unblocked and fails, later
// reads fail, and the watch stops, or does not start.
func (b *body) close() {
	if b.counted {
		b.c.rwc.SetReadDeadline(aLongTimeAgo)
	}
	b.watch.Stop(b.c.rwc)
	b.mu.Lock()
	b.closed, b.done = true, true
	b.mu.Unlock()
}

// discard reads and throws away what the handler left of the body, within
// the body's read deadline, and reports whether the connection can go on.
func (b *body) discard() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.err != nil || b.remaining > maxDiscardBytes {
		return false
	}
	b.c.rwc.SetReadDeadline(b.deadline)
	n, err := io.CopyN(io.Discard, b.c.br, b.remaining)
	b.remaining -= n
	if err != nil {
		b.err = err
		return false
	}
	b.eof = true
	return true
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
