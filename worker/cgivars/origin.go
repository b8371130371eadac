package cgivars

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Origin is what a ResponseWriter of style Direct needs to know about the
// connection it writes to: an HTTP/1.x client's, with no front end to frame
// the body.
type Origin struct {
	// HTTP10 says the request was HTTP/1.0: the status line says
	// HTTP/1.0, and a body of unknown length is not chunked but ends with
	// the connection.
	HTTP10 bool
	// KeepAlive says the connection may carry another request after this
	// response. The response says so (HTTP/1.0: Connection: keep-alive) or
	// says Connection: close.
	KeepAlive bool
	// Hold, if set, is called as the header block is written, when the
	// connection would be kept alive. Returning false ends it after this
	// response: the request body the handler left unread is too long to
	// read and throw away.
	Hold func() bool
}

// NewOriginWriter returns a ResponseWriter of style Direct that writes the
// response to req straight to an HTTP/1.x client over w. Besides what every
// style does, it adds a Date header when the handler set none (a Date key
// with no values keeps it out, as in net/http), replaces the handler's
// Connection header with its own, and frames a body of unknown length:
// chunked for HTTP/1.1, with the trailers the handler declared in a Trailer
// header or set under http.TrailerPrefix; ended by closing the connection
// for HTTP/1.0. 1xx codes other than 101 go out at once as interim
// responses with the handler's headers at the time. Connection: keep-alive
// goes only to an HTTP/1.0 client whose connection stays, and Connection:
// close only to HTTP/1.1 ones, as net/http does. KeepAlive reports,
// after Finish, whether the connection may go on.
func NewOriginWriter(w io.Writer, req *http.Request, o Origin) *ResponseWriter {
	rw := NewResponseWriter(w, Direct, req)
	rw.origin = &o
	return rw
}

// KeepAlive reports whether the response left the connection able to carry
// another request: the handler did not ask for Connection: close, the body
// was framed, and Hold did not refuse. Only meaningful after Finish, for a
// ResponseWriter from NewOriginWriter.
func (rw *ResponseWriter) KeepAlive() bool {
	return rw.origin != nil && rw.origin.KeepAlive && rw.err == nil
}

func (o *Origin) statusProto() string {
	if o.HTTP10 {
		return "HTTP/1.0 "
	}
	return "HTTP/1.1 "
}

// hasTrailers reports whether an Origin response declares trailers in a
// Trailer header, which keeps Finish from giving it a Content-Length (as
// net/http does; keys under http.TrailerPrefix are known only at the end).
func (rw *ResponseWriter) hasTrailers() bool {
	return rw.origin != nil && len(rw.snap["Trailer"]) > 0
}

// frame settles, as the header block goes out, how the body is delimited
// and whether the connection is kept, and edits the snapshot h to match.
func (rw *ResponseWriter) frame(h http.Header) {
	o := rw.origin
	o.settle(HasToken(h["Connection"], "close"))
	delete(h, "Connection")
	if rw.bodyAllowed() && !rw.head && rw.clen < 0 && (!rw.finishing || rw.hasTrailers()) {
		if o.HTTP10 {
			o.KeepAlive = false // the body ends with the connection
		} else {
			rw.chunked = true
		}
	}
}

// settle decides, as the header block goes out, whether the connection
// is kept: not when the handler said Connection: close (closing), nor when
// Hold refuses.
func (o *Origin) settle(closing bool) {
	if closing {
		o.KeepAlive = false
	}
	if o.KeepAlive && o.Hold != nil && !o.Hold() {
		o.KeepAlive = false
	}
}

// dateCache is the Date header's value for the current second: formatting
// it per response costs more than the rest of the header block.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec   int64
	value string
}

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.value
	}
	d := &cachedDate{sec: now.Unix(), value: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.value
}

// writeFraming writes the header fields frame (or WriteWhole) decided on,
// and a Date unless the handler's fields have one (dated).
func (rw *ResponseWriter) writeFraming(w *bufio.Writer, dated bool) {
	o := rw.origin
	if !dated {
		w.WriteString("Date: ")
		w.WriteString(httpDate())
		w.WriteString("\r\n")
	}
	if rw.chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if tr := rw.snap["Trailer"]; len(tr) > 0 {
		w.WriteString("Trailer: ")
		writeValue(w, strings.Join(tr, ", "))
		w.WriteString("\r\n")
	}
	switch {
	case !o.KeepAlive && !o.HTTP10: // HTTP/1.0 closes unless told otherwise
		w.WriteString("Connection: close\r\n")
	case o.HTTP10 && o.KeepAlive:
		w.WriteString("Connection: keep-alive\r\n")
	}
}

// endChunks writes the last chunk and the trailer section: the fields the
// Trailer header declared, with their values at the end of the handler,
// and those set under http.TrailerPrefix.
func (rw *ResponseWriter) endChunks() {
	w := rw.bufs.wire
	w.WriteString("0\r\n")
	declared := map[string]bool{}
	for _, v := range rw.snap["Trailer"] {
		for _, name := range strings.Split(v, ",") {
			declared[http.CanonicalHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	trailers := http.Header{}
	for k, vv := range rw.header {
		switch {
		case strings.HasPrefix(k, http.TrailerPrefix):
			trailers[http.CanonicalHeaderKey(strings.TrimPrefix(k, http.TrailerPrefix))] = vv
		case declared[http.CanonicalHeaderKey(k)]:
			trailers[k] = vv
		}
	}
	writeHeaders(w, trailers)
	if _, err := w.WriteString("\r\n"); err != nil {
		rw.fail(err)
	}
}

// interim sends a 1xx response with the handler's headers as they are now,
// unless the final response has begun or code is 101 (switching protocols
// takes a hijacked connection). Like net/http, it sends them to HTTP/1.0
// clients too.
func (rw *ResponseWriter) interim(code int) {
	if rw.sent || code == http.StatusSwitchingProtocols || rw.err != nil {
		return
	}
	w := rw.bufs.wire
	w.WriteString(rw.origin.statusProto())
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(code))
	w.WriteString("\r\n")
	writeHeaders(w, rw.header)
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		rw.fail(err)
	}
}

// ReadFrom copies src into the body. When the body's length is known (a
// Content-Length) and w is an io.ReaderFrom (a TCP connection, which uses
// sendfile for a file), the header block and anything buffered are sent
// first and the rest goes from src to w directly, at most the
// Content-Length; otherwise it is io.Copy through Write.
func (rw *ResponseWriter) ReadFrom(src io.Reader) (int64, error) {
	if rw.status == 0 && !rw.finished {
		rw.WriteHeader(http.StatusOK)
	}
	rf, ok := rw.w.(io.ReaderFrom)
	if !ok || rw.finished || rw.err != nil || !rw.bodyAllowed() || rw.head || rw.clen < 0 || rw.chunked {
		return io.Copy(writerOnly{rw}, src)
	}
	var n int64
	if _, typed := rw.snap["Content-Type"]; !typed && !rw.sent {
		// Enough of the body to sniff its type from.
		k, err := io.CopyN(writerOnly{rw}, src, 512)
		n += k
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
	if err := rw.flushWire(); err != nil {
		return n, err
	}
	left := rw.clen - rw.written
	if left <= 0 {
		return n, nil
	}
	rw.cw.committed = true
	k, err := rf.ReadFrom(io.LimitReader(src, left))
	rw.written += k
	n += k
	if err != nil {
		rw.fail(err)
	}
	return n, err
}

// HasToken reports whether a comma-separated list in values holds tok,
// case-insensitively (the Connection header's form).
func HasToken(values []string, tok string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}
