package cgivars

import (
	"net/http"
	"strconv"
)

// WholeWriter is a ResponseWriter that can send a response whose body is
// all in hand without a header map: ResponseWriter is one, and so is the
// access log's recorder around one.
type WholeWriter interface {
	WriteWhole(code int, fields []string, body []byte) (n int, ok bool, err error)
}

// WriteWhole sends a whole response at once: status code (200–999),
// header fields as name, value, name, value, ... and the body. It sends
// what WriteHeader(code), Write(body) and Finish would for a Header()
// holding those fields, in one write, without building or copying a map:
// a Content-Length when the fields have none and the status allows a body
// (none for a HEAD with no body, as Finish does), a sniffed Content-Type
// when they have none and n (below) is not 0, and, in style Direct,
// the Date and the connection's framing; a Connection field saying close
// ends the connection after it. The fields go out in the order given,
// values trimmed and with CR, LF and NUL made spaces as Header's are. n is
// what Write would have returned for the body: len(body), or 0 where the
// status allows none (204, 304) or a HEAD's body is longer than its
// declared length.
//
// Names must be canonical (http.CanonicalHeaderKey) and valid tokens, with
// at most one Content-Length; Transfer-Encoding and Status fields are left
// out, as Header's are. When the writer has been used (a status, a byte
// written, or anything in Header(): a middleware's Connection: close), the
// fields declare a Trailer, or a declared Content-Length is not the body's
// length where the body is sent, it does nothing and reports ok false: the
// caller takes the usual way, which handles those. Otherwise the response
// is finished, and err is the write's, as Finish would return it.
func (rw *ResponseWriter) WriteWhole(code int, fields []string, body []byte) (n int, ok bool, err error) {
	if code < 200 || code > 999 || rw.status != 0 || rw.finished || rw.sent || rw.written > 0 || len(rw.header) > 0 {
		return 0, false, nil
	}
	rw.status = code
	allowed := rw.bodyAllowed()
	clen, typed, dated, closing := int64(-1), false, false, false
	for i := 0; i+1 < len(fields); i += 2 {
		switch fields[i] {
		case "Content-Length":
			v, _ := ParseDigits(fields[i+1])
			clen = v
		case "Content-Type":
			typed = true
		case "Date":
			dated = true
		case "Connection":
			closing = closing || HasToken(fields[i+1:i+2], "close")
		case "Trailer":
			return 0, false, nil // trailers need the chunked way
		}
	}
	if clen >= 0 && allowed && !rw.head && clen != int64(len(body)) {
		rw.status = 0
		return 0, false, nil
	}
	if allowed && (clen < 0 || int64(len(body)) <= clen) {
		n = len(body) // Write's count: a HEAD's body too, unless past its length
	}
	rw.written = int64(n)
	rw.clen = clen
	b := rw.bufs
	w := b.wire
	o := rw.origin
	if o != nil {
		o.settle(closing)
	}
	rw.writeStatusLine(w)
	for i := 0; i+1 < len(fields); i += 2 {
		switch fields[i] {
		case "Transfer-Encoding", "Status":
			continue // as writeHeaders: never from the handler
		case "Connection":
			if o != nil {
				continue // the framing below says it
			}
		}
		w.WriteString(fields[i])
		w.WriteString(": ")
		writeValue(w, fields[i+1])
		w.WriteString("\r\n")
	}
	if clen < 0 && allowed && (len(body) > 0 || !rw.head) {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
		rw.clen = int64(len(body))
	}
	if !typed && n > 0 {
		w.WriteString("Content-Type: ")
		w.WriteString(http.DetectContentType(body))
		w.WriteString("\r\n")
	}
	if o != nil {
		rw.writeFraming(w, dated) // not chunked, no Trailer: the length is known
	}
	w.WriteString("\r\n")
	rw.sent = true
	if allowed && !rw.head && len(body) > 0 {
		w.Write(body)
	}
	return n, true, rw.Finish()
}
