package cgivars

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Style selects how the status of a response is written.
type Style int

const (
	StatusHeader Style = iota // CGI "Status: 200 OK" header (FastCGI, SCGI)
	StatusLine                // full "HTTP/1.1 200 OK" status line (uwsgi: mod_proxy_uwsgi and the uWSGI router need it)
	Direct                    // straight to an HTTP/1.x client, no front end: see NewOriginWriter
)

// Sizes of a ResponseWriter's buffers. A response whose body fits in
// bodyBufSize when the handler returns gets a Content-Length and goes out in
// one write, header block included.
const (
	bodyBufSize = 4 << 10
	wireBufSize = 8 << 10
)

// Errors a ResponseWriter returns.
var (
	// ErrFinished is returned by writes after Finish.
	ErrFinished = errors.New("cgivars: response already finished")
	// ErrShortBody is returned by Finish when the handler declared a
	// Content-Length and wrote less: the front end will see a truncated
	// response, so the caller should abort the connection or request.
	ErrShortBody = errors.New("cgivars: response body shorter than its Content-Length")
)

// flushErrorer is what Flush pushes through to after writing its buffer.
type flushErrorer interface{ Flush() error }

type buffers struct {
	body []byte
	wire *bufio.Writer
	snap http.Header // the header snapshot's map, kept for the next response
	vals []string    // the backing array of the snapshot's values
}

// snapshot copies h into b's map, each value slice copied too, as
// http.Header.Clone would, but with nothing allocated once b has served a
// response with as many headers. The copy is valid until b goes back to
// the pool.
func (b *buffers) snapshot(h http.Header) http.Header {
	if b.snap == nil {
		b.snap = make(http.Header, len(h))
	}
	n := 0
	for _, vv := range h {
		n += len(vv)
	}
	if cap(b.vals) < n {
		b.vals = make([]string, max(n, 16))
	}
	vals := b.vals[:cap(b.vals)]
	for k, vv := range h {
		if vv == nil {
			b.snap[k] = nil // Clone keeps a nil value nil: "send no such header"
			continue
		}
		m := copy(vals, vv)
		b.snap[k] = vals[:m:m]
		vals = vals[m:]
	}
	return b.snap
}

// reset empties b for the pool, dropping its references to the response's
// strings.
func (b *buffers) reset() {
	b.body = b.body[:0]
	b.wire.Reset(nil)
	clear(b.snap)
	clear(b.vals)
}

var bufPool = sync.Pool{New: func() any {
	return &buffers{body: make([]byte, 0, bodyBufSize), wire: bufio.NewWriterSize(nil, wireBufSize)}
}}

// ResponseWriter is an http.ResponseWriter and http.Flusher writing a
// CGI-style response to w.
//
// The header block (status, then the headers in sorted order with canonical
// names, then an empty line, all with CRLF) is written when the body outgrows
// a 4 KiB buffer, on Flush or on Finish, whichever comes first; when it is
// Finish, a missing Content-Length is computed from the buffered body. The
// header block never has Transfer-Encoding (the front end frames the body),
// Trailer, or trailer keys; header values have CR, LF and NUL replaced by
// spaces.
// A response to HEAD, or with status 204 or 304, has no body: writes to it
// are counted (HEAD) or refused with http.ErrBodyNotAllowed (204, 304).
// Writing more than a declared Content-Length fails with
// http.ErrContentLength. Once a write to w fails, every later write returns
// that error.
//
// A ResponseWriter is not safe for concurrent use, and a handler must not use
// it after it returns (as with net/http).
type ResponseWriter struct {
	w     io.Writer
	style Style
	head  bool // request method HEAD

	header  http.Header // the handler's map, nil until Header is called
	snap    http.Header // snapshot taken at WriteHeader
	status  int         // 0 until WriteHeader
	clen    int64       // declared Content-Length, -1 if none
	written int64       // body bytes accepted from the handler

	bufs      *buffers
	cw        commitWriter
	sent      bool // header block handed to the wire buffer
	finishing bool // Finish is running: the body is complete
	finished  bool
	err       error

	origin  *Origin // style Direct only
	chunked bool    // the body goes out in chunks (style Direct)
}

// commitWriter is what the wire buffer writes to: it notes that a byte of
// the response has reached w.
type commitWriter struct {
	w         io.Writer
	committed bool
}

func (c *commitWriter) Write(p []byte) (int, error) {
	c.committed = true
	return c.w.Write(p)
}

// writerOnly hides a ResponseWriter's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// NewResponseWriter returns a ResponseWriter writing to w the response to req.
// req may be nil, which is taken as a GET.
func NewResponseWriter(w io.Writer, style Style, req *http.Request) *ResponseWriter {
	rw := &ResponseWriter{
		w:     w,
		style: style,
		head:  req != nil && req.Method == http.MethodHead,
		clen:  -1,
		bufs:  bufPool.Get().(*buffers),
		cw:    commitWriter{w: w},
	}
	rw.bufs.wire.Reset(&rw.cw)
	return rw
}

// Header returns the header map that WriteHeader (or the first Write)
// sends. Changes after that have no effect. The map is made on the first
// call: a response sent with WriteWhole never needs one.
func (rw *ResponseWriter) Header() http.Header {
	if rw.header == nil {
		rw.header = make(http.Header)
	}
	return rw.header
}

// WriteHeader sets the response status. Calls after the first are ignored,
// as are 1xx codes (the front ends have no way to pass an interim response
// on), except in style Direct, where they are sent at once (see interim).
// A code outside 100–999 panics, as it does in net/http.
func (rw *ResponseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if rw.status != 0 || rw.finished {
		return
	}
	if code < 200 {
		if rw.origin != nil {
			rw.interim(code)
		}
		return
	}
	rw.status = code
	rw.snap = rw.bufs.snapshot(rw.header)
	if cl := rw.snap.Get("Content-Length"); cl != "" {
		if n, ok := ParseDigits(strings.TrimSpace(cl)); ok {
			rw.clen = n
		} else {
			delete(rw.snap, "Content-Length")
		}
	}
}

// bodyAllowed reports whether the status allows a body on the wire.
func (rw *ResponseWriter) bodyAllowed() bool {
	return rw.status != http.StatusNoContent && rw.status != http.StatusNotModified
}

// Write writes body bytes, calling WriteHeader(http.StatusOK) first if it
// was not called.
func (rw *ResponseWriter) Write(p []byte) (int, error) {
	if rw.finished {
		return 0, ErrFinished
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.err != nil {
		return 0, rw.err
	}
	if !rw.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if rw.clen >= 0 && rw.written+int64(len(p)) > rw.clen {
		return 0, http.ErrContentLength
	}
	rw.written += int64(len(p))
	if !rw.sent {
		b := rw.bufs
		if len(b.body)+len(p) <= cap(b.body) {
			b.body = append(b.body, p...)
			return len(p), nil
		}
		if err := rw.sendHeader(p); err != nil {
			return 0, err
		}
	}
	if rw.head {
		return len(p), nil
	}
	if err := rw.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeBody puts p on the wire, as a chunk when the body is chunked.
func (rw *ResponseWriter) writeBody(p []byte) error {
	w := rw.bufs.wire
	var err error
	if rw.chunked {
		if len(p) == 0 {
			return nil
		}
		w.WriteString(strconv.FormatInt(int64(len(p)), 16))
		w.WriteString("\r\n")
		w.Write(p)
		_, err = w.WriteString("\r\n") // bufio's error is sticky: this reports any above
	} else {
		_, err = w.Write(p)
	}
	if err != nil {
		rw.fail(err)
	}
	return err
}

// Flush sends everything written so far to w, and then calls w's own
// Flush() error if it has one. Errors are kept for the next Write and for
// Finish; FlushError returns them.
func (rw *ResponseWriter) Flush() { _ = rw.FlushError() }

// FlushError is Flush returning its error (http.ResponseController uses it).
func (rw *ResponseWriter) FlushError() error {
	if rw.finished {
		return ErrFinished
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if err := rw.flushWire(); err != nil {
		return err
	}
	if f, ok := rw.w.(flushErrorer); ok {
		if err := f.Flush(); err != nil {
			rw.fail(err)
			return err
		}
	}
	return nil
}

// Finish writes the header block if the handler never did (implicit 200) and
// flushes what is buffered into w. It does not call w's own Flush: what w
// does with the end of the stream is its owner's business. After Finish the
// ResponseWriter refuses writes. Finish returns the first write error, or
// ErrShortBody when less than a declared Content-Length was written.
func (rw *ResponseWriter) Finish() error {
	if rw.finished {
		return rw.err
	}
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	rw.finishing = true
	if !rw.sent && rw.clen < 0 && rw.bodyAllowed() && (!rw.head || rw.written > 0) && !rw.hasTrailers() {
		rw.snap["Content-Length"] = []string{strconv.FormatInt(rw.written, 10)}
		rw.clen = rw.written
	}
	if !rw.sent && rw.err == nil {
		rw.sendHeader(nil)
	}
	if rw.chunked && rw.err == nil {
		rw.endChunks()
	}
	err := rw.flushWire()
	rw.finished = true
	b := rw.bufs
	rw.bufs, rw.snap = nil, nil
	b.reset()
	bufPool.Put(b)
	if err == nil && rw.bodyAllowed() && !rw.head && rw.clen >= 0 && rw.written < rw.clen {
		err = ErrShortBody
	}
	return err
}

// Committed reports whether any byte of the response has reached w. Until it
// has, a caller that must give up on the handler's response (a panic) can
// still send a different one through a new ResponseWriter.
func (rw *ResponseWriter) Committed() bool { return rw.cw.committed }

// Status returns the status sent or to be sent, 0 before WriteHeader.
func (rw *ResponseWriter) Status() int { return rw.status }

func (rw *ResponseWriter) fail(err error) {
	if rw.err == nil {
		rw.err = err
	}
}

// flushWire sends the header block if needed, then the wire buffer.
func (rw *ResponseWriter) flushWire() error {
	if rw.err != nil {
		return rw.err
	}
	if !rw.sent {
		if err := rw.sendHeader(nil); err != nil {
			return err
		}
	}
	if rw.bufs.wire.Buffered() > 0 {
		if err := rw.bufs.wire.Flush(); err != nil {
			rw.fail(err)
			return err
		}
	}
	return nil
}

// sendHeader puts the header block and the buffered body into the wire
// buffer. more is body about to be written, used only to sniff a
// Content-Type when the buffered body is empty.
func (rw *ResponseWriter) sendHeader(more []byte) error {
	rw.sent = true
	b := rw.bufs
	h := rw.snap
	if _, ok := h["Content-Type"]; !ok && rw.bodyAllowed() && rw.written > 0 {
		sniff := b.body
		if len(sniff) == 0 {
			sniff = more
		}
		h["Content-Type"] = []string{http.DetectContentType(sniff)}
	}
	w := b.wire
	if rw.origin != nil {
		rw.frame(h)
	}
	rw.writeStatusLine(w)
	writeHeaders(w, h)
	if rw.origin != nil {
		_, dated := h["Date"] // a Date with no values keeps it out
		rw.writeFraming(w, dated)
	}
	_, err := w.WriteString("\r\n") // bufio's error is sticky: this reports any above
	if err == nil && len(b.body) > 0 && !rw.head {
		err = rw.writeBody(b.body)
	}
	b.body = b.body[:0]
	if err != nil {
		rw.fail(err)
	}
	return rw.err
}

// writeStatusLine writes the status in the writer's style: a status line
// to a client (its HTTP version) or for uwsgi, a Status header for FastCGI
// and SCGI.
func (rw *ResponseWriter) writeStatusLine(w *bufio.Writer) {
	switch {
	case rw.origin != nil:
		w.WriteString(rw.origin.statusProto())
	case rw.style == StatusLine:
		w.WriteString("HTTP/1.1 ")
	default:
		w.WriteString("Status: ")
	}
	w.WriteString(strconv.Itoa(rw.status))
	w.WriteByte(' ')
	if text := http.StatusText(rw.status); text != "" {
		w.WriteString(text)
	} else {
		w.WriteString("status code ")
		w.WriteString(strconv.Itoa(rw.status))
	}
	w.WriteString("\r\n")
}

// writeHeaders writes h sorted by canonical name, skipping what a CGI
// response must not carry.
func writeHeaders(w *bufio.Writer, h http.Header) {
	var buf [16]string // no allocation for most responses
	keys := buf[:0]
	for k, vv := range h {
		if len(vv) == 0 || !IsToken(k) || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := http.CanonicalHeaderKey(k)
		switch name {
		case "Transfer-Encoding", "Trailer", "Status":
			continue
		}
		for _, v := range h[k] {
			w.WriteString(name)
			w.WriteString(": ")
			writeValue(w, v)
			w.WriteString("\r\n")
		}
	}
}

// writeValue writes v trimmed, with CR, LF and NUL replaced by spaces so a
// value cannot split the header block.
func writeValue(w *bufio.Writer, v string) {
	v = strings.TrimSpace(v)
	if !strings.ContainsAny(v, "\r\n\x00") {
		w.WriteString(v)
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' || c == 0 {
			c = ' '
		}
		w.WriteByte(c)
	}
}
