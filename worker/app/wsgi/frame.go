package wsgi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"syscall"

	"github.com/arbiter-dev/arbiter/worker/rawio"
)

// Frame types (docs/wsgi.md, "Framing"). Each frame is one type byte, a
// little-endian u32 payload length, and the payload.
const (
	// Worker → app process.
	frameRequest     = 'R' // u32 environ length, environ block, body
	frameRequestFile = 'F' // u32 environ length, environ block; the attached fd holds the body
	frameAbort       = 'A' // the client went away: stop sending the response
	frameSpawn       = 'N' // zygote: JSON {"fds", "index"}; fork a process with the attached fds

	// App process → worker.
	frameReady     = 'Y' // JSON {"pid", "python"}
	frameBootError = 'Z' // JSON {"error", "traceback"}
	frameHeaders   = 'H' // status, then each header name and value, NUL between them
	frameBody      = 'B' // body bytes
	frameSendfile  = 'S' // i64 offset, i64 count (-1: to the end); the attached fd is the file
	frameComplete  = 'C' // u32 header block length, header block, the whole body: the response in one frame
	frameEnd       = 'E' // one byte: endOK, endAbort or endFailed
	frameLog       = 'L' // one level byte, UTF-8 text
	frameSpawned   = 'P' // zygote: JSON {"pid", "index"}
	frameExited    = 'W' // zygote: JSON {"pid", "status"}
)

// END codes.
const (
	endOK     = 0 // the response is complete
	endAbort  = 1 // cut the response: the app failed after the headers were sent, or the client left
	endFailed = 2 // the app failed before sending headers: answer 500
)

// Log levels in a frameLog.
const (
	logInfo  = 1
	logWarn  = 2
	logError = 3
)

const (
	hdrLen = 5
	// maxControlPayload bounds frames that are read whole (headers, logs,
	// control messages); body frames are streamed, whatever their size.
	maxControlPayload = 1 << 20
	// readBufSize is a slot's read buffer; a response that fits in it with
	// its headers is answered without a goroutine (the fast path).
	readBufSize = 64 << 10
	maxFDs      = 64
)

// errProtocol marks a frame the worker cannot accept from an app process:
// the process is then killed, since its socket can no longer be trusted.
var errProtocol = errors.New("wsgi protocol error")

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// frameReader reads frames from a unix stream socket and collects the file
// descriptors that arrive with them, in arrival order. It is used by one
// goroutine at a time.
type frameReader struct {
	c          *net.UnixConn
	raw        *rawio.Conn // c's raw side (worker/rawio)
	buf        []byte
	start, end int
	oob        []byte
	fds        []int
}

func newFrameReader(c *net.UnixConn) *frameReader {
	return &frameReader{c: c, raw: rawio.New(c), buf: *readBufs.Get().(*[]byte), oob: make([]byte, syscall.CmsgSpace(maxFDs*4))}
}

// fill reads until at least need bytes are buffered (need ≤ len(buf)). End
// of file is io.EOF itself (ReadMsgUnix wraps it in a *net.OpError), so that
// the callers can tell a frame cut short from the end between frames.
func (r *frameReader) fill(need int) error {
	if r.end-r.start >= need {
		return nil
	}
	if r.start == r.end {
		r.start, r.end = 0, 0
	} else if len(r.buf)-r.start < need {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	for r.end-r.start < need {
		n, oobn, err := r.recvmsg(r.buf[r.end:])
		if oobn > 0 {
			r.takeRights(r.oob[:oobn])
		}
		r.end += n
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.EOF
		}
	}
	return nil
}

// recvmsg is one read of the socket, with the descriptors that come.
func (r *frameReader) recvmsg(p []byte) (n, oobn int, err error) {
	if r.raw != nil {
		return r.raw.Recvmsg(p, r.oob)
	}
	n, oobn, _, _, err = r.c.ReadMsgUnix(p, r.oob)
	return n, oobn, err
}

// write writes p to the socket, by its raw side as recvmsg reads it.
func (r *frameReader) write(p []byte) error {
	var err error
	if r.raw != nil {
		_, err = r.raw.Write(p)
	} else {
		_, err = r.c.Write(p)
	}
	return err
}

func (r *frameReader) takeRights(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := syscall.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				syscall.CloseOnExec(fd)
			}
			r.fds = append(r.fds, fds...)
		}
	}
}

// header reads the next frame header. A length that does not fit in an int
// (over 2 GiB on a 32-bit platform) is an errProtocol.
func (r *frameReader) header() (kind byte, n int, err error) {
	if err := r.fill(hdrLen); err != nil {
		if err == io.EOF && r.end > r.start {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	kind = r.buf[r.start]
	n64 := binary.LittleEndian.Uint32(r.buf[r.start+1:])
	r.start += hdrLen
	if uint64(n64) > math.MaxInt {
		return kind, 0, fmt.Errorf("%w: a frame of %d bytes", errProtocol, n64)
	}
	return kind, int(n64), nil
}

// payload returns the next n bytes whole (n ≤ maxControlPayload). The slice
// is valid until the next read.
func (r *frameReader) payload(n int) ([]byte, error) {
	if n > maxControlPayload {
		return nil, fmt.Errorf("%w: a %d-byte control frame", errProtocol, n)
	}
	if n > len(r.buf) {
		nb := make([]byte, n+hdrLen)
		r.end = copy(nb, r.buf[r.start:r.end])
		r.start = 0
		r.recycle()
		r.buf = nb
	}
	if err := r.fill(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	p := r.buf[r.start : r.start+n]
	r.start += n
	return p, nil
}

// stream passes the next n bytes to sink in pieces, as they arrive. The
// pieces are valid only during the call.
func (r *frameReader) stream(n int, sink func([]byte) error) error {
	for n > 0 {
		if r.start == r.end {
			if err := r.fill(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(n, r.end-r.start)
		if err := sink(r.buf[r.start : r.start+k]); err != nil {
			return err
		}
		r.start += k
		n -= k
	}
	return nil
}

// takeFD returns the oldest descriptor that came with the frames.
func (r *frameReader) takeFD() (int, error) {
	if len(r.fds) == 0 {
		return -1, fmt.Errorf("%w: a frame that carries a file descriptor came without one", errProtocol)
	}
	fd := r.fds[0]
	r.fds = r.fds[1:]
	return fd, nil
}

// closeFDs closes descriptors no frame claimed.
func (r *frameReader) closeFDs() {
	for _, fd := range r.fds {
		syscall.Close(fd)
	}
	r.fds = r.fds[:0]
}

// recycle returns a standard-size buffer to the pool.
func (r *frameReader) recycle() {
	if cap(r.buf) == readBufSize {
		b := r.buf[:readBufSize]
		readBufs.Put(&b)
	}
	r.buf = nil
}

// appendHeader appends a frame header.
func appendHeader(b []byte, kind byte, n int) []byte {
	return binary.LittleEndian.AppendUint32(append(b, kind), uint32(n))
}

// writeFrame writes one frame, with fd attached when fd ≥ 0.
func writeFrame(c *net.UnixConn, kind byte, payload []byte, fd int) error {
	b := appendHeader(make([]byte, 0, hdrLen+len(payload)), kind, len(payload))
	b = append(b, payload...)
	if fd < 0 {
		_, err := c.Write(b)
		return err
	}
	_, _, err := c.WriteMsgUnix(b, syscall.UnixRights(fd), nil)
	return err
}

// detach hands the buffer and what is left unread in it to the caller,
// and gives r a fresh one holding the rest.
func (r *frameReader) detach() []byte {
	old := r.buf
	nb := *readBufs.Get().(*[]byte)
	r.end = copy(nb, old[r.start:r.end])
	r.start = 0
	r.buf = nb
	return old
}

func putBuf(b []byte) {
	if cap(b) == readBufSize {
		b = b[:readBufSize]
		readBufs.Put(&b)
	}
}
