package oneshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
)

// Limits on the trailer section after a chunked body.
const (
	maxTrailerBytes = 8 << 10
)

// body is a request's Body. It reads from the connection's buffered reader:
// exactly ContentLength bytes, or a chunked body and its trailer section.
// Once the body has been read to its end and the handler has run for
// WatchAfter, a goroutine watches the connection: the peer closing it (EOF,
// reset) cancels the request context with ErrPeerGone. Before that, the
// connection cannot be watched without taking body bytes the handler has
// not read; a handler that ignores the body learns that the peer went away
// only from a failed write. Bytes after the body are bad input: the watch
// logs them, and so does close when they came before it started (those
// already read into the buffer).
type body struct {
	c      *conn
	br     *bufio.Reader
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	remaining int64     // bytes left of a counted body
	chunked   io.Reader // the decoder of a chunked body, or nil
	eof       bool      // the whole body has been read
	extra     bool      // the peer sent more than the body
	closed    bool      // by the handler (Close) or after it returned
	err       error     // sticky read error
	watch     Watch
}

// frame sets how long the body of req is, and req.Body accordingly.
func (b *body) frame(req *http.Request, dechunk bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case req.ContentLength > 0:
		b.remaining = req.ContentLength
	case req.ContentLength < 0 && dechunk && len(req.TransferEncoding) > 0:
		b.chunked = httputil.NewChunkedReader(b.br)
	default:
		req.ContentLength = 0
		req.Body = http.NoBody
		b.eof = true
		b.startWatchLocked()
	}
}

// Read reads the body; a body that ends early gives io.ErrUnexpectedEOF,
// and any read error also ends the request context and is logged as bad
// input. After Close, or once the handler has returned, Read returns
// http.ErrBodyReadAfterClose.
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
	if b.chunked != nil {
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			if err = skipTrailer(b.br); err == nil {
				b.eof = true
				b.startWatchLocked()
				return n, io.EOF
			}
		}
		if err != nil {
			return n, b.failLocked(fmt.Errorf("reading the chunked body: %w", err))
		}
		return n, nil
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.eof = true
		b.startWatchLocked()
		return n, nil
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, b.failLocked(fmt.Errorf("reading the body, %d bytes short: %w", b.remaining, err))
	}
	return n, nil
}

func (b *body) failLocked(err error) error {
	b.err = err
	b.c.bad(err)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		b.cancel(ErrPeerGone)
	} else {
		b.cancel(err)
	}
	return err
}

// Close makes further reads fail; it does not read the rest of the body.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// startWatchLocked starts the watch for the peer closing the connection
// (in WatchAfter). The body is read completely, so whatever arrives now is
// not the handler's.
func (b *body) startWatchLocked() {
	if !b.closed {
		b.watch.Start(b.c.rwc, b.watchPeer)
	}
}

func (b *body) watchPeer() {
	var one [1]byte
	for {
		n, err := b.br.Read(one[:])
		switch {
		case n > 0:
			b.mu.Lock()
			b.extra = true
			b.mu.Unlock()
			b.c.bad(errors.New("data after the request body"))
			return
		case err != nil && isTimeout(err):
			return // close stopped the watch
		case err != nil:
			b.cancel(ErrPeerGone)
			return
		}
	}
}

// close ends the body once the handler has returned: a read still blocked
// in a goroutine the handler left behind is unblocked and fails, later
// reads fail, and the watch stops, or does not start. The connection's read
// deadline is in the past afterwards.
func (b *body) close() {
	b.c.rwc.SetReadDeadline(aLongTimeAgo)
	watched := b.watch.Stop(b.c.rwc)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if !watched && b.eof && !b.extra && b.br.Buffered() > 0 {
		b.extra = true
		b.c.bad(errors.New("data after the request body"))
	}
}

// consumed reports whether the body was read to its end and nothing came
// after it, so that the connection can be closed without lingering.
func (b *body) consumed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof && !b.extra
}

// skipTrailer reads the trailer section after the last chunk, up to and
// including its empty line, and discards it (RFC 9112 §7.1.2 lets a
// recipient discard trailer fields).
func skipTrailer(br *bufio.Reader) error {
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if total > maxTrailerBytes {
			return errors.New("trailer section too large")
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			return fmt.Errorf("reading the trailer: %w", err)
		}
		if len(line) <= 2 && (string(line) == "\r\n" || string(line) == "\n") {
			return nil
		}
	}
}
