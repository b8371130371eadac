package cgi

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const copyBufSize = 32 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}
	bufPool    = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
)

func getReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

// copyResult is how copying a script's body ended.
type copyResult struct {
	werr     error // writing to the client failed: it went away
	rerr     error // reading stdout failed: the run was killed, or a chunked body was malformed
	overflow bool  // the script wrote more than its Content-Length; the rest was dropped
}

// copyBody copies the script's body (what br holds, then stdout) to w until
// stdout ends. With discard (HEAD, 204, 304) it is read and dropped. With
// chunked, the script's chunked body is decoded. limit is the script's
// Content-Length (-1: none): what goes beyond it is read and dropped. When
// that many bytes have been written the response is complete: it is
// flushed and complete is called (the client may hang up from then on
// without the run being cut short), while stdout is still read to its end.
//
// The response is flushed when stdout stays empty for delay (flushDelay),
// so a script that streams is streamed (each pause delivers what came
// before it), while a script that ends within delay of its last write gets
// one write: net/http can give its response a Content-Length, and over
// FastCGI the body, the end of the stream and END_REQUEST leave together,
// which wakes the web server once rather than twice.
func copyBody(w http.ResponseWriter, br *bufio.Reader, stdout *os.File, discard, chunked bool, limit int64, delay time.Duration, complete func()) copyResult {
	var res copyResult
	rc := http.NewResponseController(w)
	full := false      // the declared Content-Length has been written
	unflushed := false // written since the last flush
	var flush func() bool
	write := func(b []byte) bool {
		switch {
		case discard || len(b) == 0:
			return true
		case full:
			res.overflow = true
			return true
		case limit >= 0 && int64(len(b)) > limit:
			b = b[:limit]
			res.overflow = true
		}
		limit -= int64(len(b))
		unflushed = true
		if _, err := w.Write(b); err != nil {
			res.werr = err
			return false
		}
		if limit == 0 {
			// Complete before the flush: once the client has the whole
			// response it may hang up at once, and that must not count
			// as leaving early. A flush that fails still aborts (werr).
			complete()
			ok := flush()
			full = true
			return ok
		}
		return true
	}
	flush = func() bool {
		if discard || full {
			return true
		}
		unflushed = false
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			res.werr = err
			return false
		}
		return true
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp

	if chunked {
		cr := httputil.NewChunkedReader(br)
		for {
			n, err := cr.Read(buf)
			if !write(buf[:n]) || n > 0 && br.Buffered() == 0 && !flush() {
				return res
			}
			if err == io.EOF {
				// A trailer section and anything after it is dropped.
				if _, err := io.Copy(io.Discard, br); err != nil {
					res.rerr = err
				}
				return res
			}
			if err != nil {
				res.rerr = err
				return res
			}
		}
	}

	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		ok := write(b)
		br.Discard(n)
		if !ok {
			return res
		}
	}
	for {
		n, wouldBlock, err := readNow(stdout, buf)
		if wouldBlock {
			if unflushed && !waitReadable(stdout, delay) && !flush() {
				return res
			}
			n, err = stdout.Read(buf)
		}
		if !write(buf[:n]) {
			return res
		}
		if err == io.EOF {
			return res
		}
		if err != nil {
			res.rerr = err
			return res
		}
	}
}

// flushDelay is how long stdout may stay empty before what the script wrote
// is flushed to the client. Most scripts exit within it of their last
// write (a shell script in tens of microseconds).
const flushDelay = time.Millisecond

// waitReadable waits up to d for f (a pipe) to have something to read, or
// to be at its end, and reports whether it has. It blocks its thread in
// ppoll rather than set a read deadline, which belongs to proc.kill.
func waitReadable(f *os.File, d time.Duration) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		ts := unix.NsecToTimespec(int64(d))
		n, err := unix.Ppoll(fds, &ts, nil) // EINTR: flush now
		ready = err == nil && n > 0
	})
	return ready
}

// readNow reads what f (a pipe) holds now, without waiting: wouldBlock is
// true when it holds nothing yet. At the end of the stream it returns
// io.EOF. A read deadline that has passed makes it fail, as f.Read does.
func readNow(f *os.File, buf []byte) (n int, wouldBlock bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var rerr error
	if cerr := rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), buf)
			if rerr != syscall.EINTR {
				return true
			}
		}
	}); cerr != nil {
		return 0, false, cerr
	}
	switch {
	case rerr == syscall.EAGAIN:
		return 0, true, nil
	case rerr != nil:
		return 0, false, rerr
	case n == 0:
		return 0, false, io.EOF
	}
	return n, false, nil
}
