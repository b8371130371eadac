package fastcgi

import (
	"errors"
	"io"
	"sync"
)

// Errors a request body's Read returns besides io.EOF.
var (
	// ErrBodyStalled: the connection is shared with other requests, this
	// request's body buffer was full and its handler did not read from it
	// in time, so the rest of the body was dropped to keep the other
	// requests moving (see the package documentation).
	ErrBodyStalled = errors.New("fastcgi: request body dropped: buffer full and not read while other requests share the connection")
	// ErrBodyTimeout: the request (params and body) was not received within
	// Server.ReadTimeout.
	ErrBodyTimeout = errors.New("fastcgi: request body not received within the read timeout")
	// ErrAborted: the web server sent ABORT_REQUEST. Writes to an aborted
	// request's response return it too.
	ErrAborted = errors.New("fastcgi: request aborted by the web server")
	// errBodyClosed: Read after Close, or after the handler returned.
	errBodyClosed = errors.New("fastcgi: read on closed request body")
)

// minBodyBuf is the first allocation of a body buffer.
const minBodyBuf = 512

// body is a request's STDIN stream: a buffer of at most max bytes between
// the connection's read loop (the only writer) and the handler (the only
// reader). The read loop fills the free region [w:cap] without the lock;
// the handler copies from [r:w] under it. Only the read loop moves w,
// compacts or grows the buffer, so the two never touch the same bytes.
type body struct {
	mu       sync.Mutex
	readable sync.Cond // signalled when data, an error or a close arrives
	buf      []byte
	r, w     int
	max      int
	left     int64 // bytes CONTENT_LENGTH still allows; -1 = no limit
	err      error // end of stream (io.EOF) or failure, reported once the buffer is drained
	closed   bool  // the handler is done with the body
	// room, when non-nil, is signalled when the handler frees space, closes
	// the body, or the body fails: the read loop waits on it when full.
	room chan struct{}
}

// setLimits sets the buffer size and the CONTENT_LENGTH bound (-1: none)
// before the first STDIN record. readable.L must already be &b.mu.
func (b *body) setLimits(max int, contentLength int64) {
	b.mu.Lock()
	b.max = max
	b.left = contentLength
	b.mu.Unlock()
}

// Read implements io.Reader for the handler. It blocks until data arrives,
// the stream ends (io.EOF once the empty STDIN record or CONTENT_LENGTH
// bytes have arrived; io.ErrUnexpectedEOF if the stream ends short of
// CONTENT_LENGTH or the connection goes away) or the body fails.
func (b *body) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return 0, errBodyClosed
		}
		if b.r < b.w {
			n := copy(p, b.buf[b.r:b.w])
			b.r += n
			b.signalRoom()
			return n, nil
		}
		if b.err != nil {
			return 0, b.err
		}
		b.readable.Wait()
	}
}

// Close implements io.Closer: the rest of the body is discarded as it
// arrives. Close is safe to call more than once and concurrently with Read.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.buf, b.r, b.w = nil, 0, 0
	b.readable.Broadcast()
	b.signalRoom()
	b.mu.Unlock()
	return nil
}

// signalRoom wakes the read loop if it waits for space. b.mu is held.
func (b *body) signalRoom() {
	if b.room != nil {
		select {
		case b.room <- struct{}{}:
		default:
		}
	}
}

// space returns where the read loop may put up to want more bytes, growing
// or compacting the buffer as needed. An empty region means the buffer is
// full: room is then the channel to wait on (created under the lock, so no
// wake-up between this call and the wait is lost). discard means the body
// no longer wants data (closed, failed, or CONTENT_LENGTH reached) and the
// rest of the stream is to be skipped.
func (b *body) space(want int) (region []byte, room <-chan struct{}, discard bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.err != nil || b.left == 0 {
		return nil, nil, true
	}
	if b.left > 0 && int64(want) > b.left {
		want = int(b.left)
	}
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	if len(b.buf)-b.w < want && b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	if len(b.buf)-b.w < want && len(b.buf) < b.max {
		n := min(b.max, max(2*len(b.buf), b.w+want, minBodyBuf))
		nb := make([]byte, n)
		copy(nb, b.buf[:b.w])
		b.buf = nb
	}
	end := min(len(b.buf), b.w+want)
	if end == b.w {
		if b.room == nil {
			b.room = make(chan struct{}, 1)
		}
		return nil, b.room, false
	}
	return b.buf[b.w:end], nil, false
}

// commit makes n bytes written into the last region readable.
func (b *body) commit(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	if !b.closed && b.err == nil {
		b.w += n
		if b.left > 0 {
			b.left -= int64(n)
			if b.left == 0 {
				b.err = io.EOF
			}
		}
		b.readable.Broadcast()
	}
	b.mu.Unlock()
}

// end is the empty STDIN record: the stream is complete.
func (b *body) end() {
	b.mu.Lock()
	if b.err == nil {
		if b.left > 0 {
			b.err = io.ErrUnexpectedEOF
		} else {
			b.err = io.EOF
		}
		b.readable.Broadcast()
	}
	b.mu.Unlock()
}

// fail ends the stream with err unless it has already ended. Data already
// buffered is still delivered first.
func (b *body) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
		b.readable.Broadcast()
		b.signalRoom()
	}
	b.mu.Unlock()
}

var _ io.ReadCloser = (*body)(nil)
