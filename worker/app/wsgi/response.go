package wsgi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// ServeHTTP answers r with the app.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r, h.cfg.BufferSize, h.cfg.MaxBodySize, h.cfg.TempDir)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, errBodyTooLarge) || errors.As(err, &mbe):
			w.Header().Set("Connection", "close")
			http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
		case errors.Is(err, os.ErrDeadlineExceeded) || isNetTimeout(err):
			w.Header().Set("Connection", "close")
			http.Error(w, "408 request timeout", http.StatusRequestTimeout)
		default:
			w.Header().Set("Connection", "close")
			http.Error(w, "400 bad request body", http.StatusBadRequest)
			h.log.Debug().Err(err).Str("remote", r.RemoteAddr).Msg("request body")
		}
		return
	}
	defer b.release()

	e := envBufs.Get().(*env)
	defer envBufs.Put(e)
	e.b = append(e.b[:0], make([]byte, hdrLen+4)...)
	if err := h.environ(e, r, b.n); err != nil {
		http.Error(w, "400 "+err.Error(), http.StatusBadRequest)
		return
	}

	for attempt := 0; ; attempt++ {
		s, err := h.pool.acquire(r)
		if err != nil {
			switch {
			case errors.Is(err, errUnavailable), errors.Is(err, errClosed):
				w.Header().Set("Retry-After", "1")
				http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
			}
			return // otherwise the client went away while waiting
		}
		if err := s.send(e.b, b); err != nil {
			// The process was gone before it got the request: nothing of it
			// ran, so another process may take it.
			h.pool.release(s, true, "its socket failed: "+err.Error())
			if attempt < 3 {
				continue
			}
			http.Error(w, "502 bad gateway", http.StatusBadGateway)
			return
		}
		h.respond(w, r, s)
		return
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// send writes the REQUEST frame: e holds hdrLen+4 bytes of room, then the
// environ block; the body follows inline, or as an attached file.
func (s *slot) send(e []byte, b *body) error {
	envLen := len(e) - hdrLen - 4
	binary.LittleEndian.PutUint32(e[hdrLen:], uint32(envLen))
	if b.file != nil {
		e[0] = frameRequestFile
		binary.LittleEndian.PutUint32(e[1:], uint32(len(e)-hdrLen))
		n, _, err := s.c.WriteMsgUnix(e, syscall.UnixRights(int(b.file.Fd())), nil)
		if err == nil && n < len(e) {
			_, err = s.c.Write(e[n:])
		}
		return err
	}
	e[0] = frameRequest
	binary.LittleEndian.PutUint32(e[1:], uint32(len(e)-hdrLen+len(b.mem)))
	if len(b.mem) == 0 {
		return s.rd.write(e)
	}
	bufs := net.Buffers{e, b.mem}
	_, err := bufs.WriteTo(s.c)
	return err
}

// reqInfo names a request in log lines.
func reqInfo(r *http.Request) string { return r.Method + " " + r.RequestURI }

// respond reads the app's response from s and sends it to w. The slot is
// released as soon as the app is done, before a slow client has read it.
// A COMPLETE frame that fits in the read buffer is answered here, without
// another goroutine; anything else is pumped into a spool (stream.go), and
// the status and headers are checked by setHeaders (headers.go).
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, s *slot) {
	rd := s.rd
	for {
		kind, n, err := rd.header()
		if err != nil {
			h.processFailed(w, r, s, err)
			return
		}
		switch kind {
		case frameLog:
			p, err := rd.payload(n)
			if err != nil {
				h.processFailed(w, r, s, err)
				return
			}
			h.pool.logFrame(*h.reqLog(s, r), p)
		case frameEnd:
			p, err := rd.payload(n)
			if err != nil || len(p) != 1 {
				h.processFailed(w, r, s, fmt.Errorf("%w: END of %d bytes", errProtocol, n))
				return
			}
			rd.closeFDs() // no frame of this response claims one
			h.pool.release(s, false, "")
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
			return
		case frameComplete:
			if n > len(rd.buf)-hdrLen && n > 4 {
				h.respondLarge(w, r, s, n)
				return
			}
			p, err := rd.payload(n)
			if err != nil || len(p) < 4 || uint64(binary.LittleEndian.Uint32(p)) > uint64(len(p)-4) {
				h.processFailed(w, r, s, errors.Join(err, fmt.Errorf("%w: bad COMPLETE frame", errProtocol)))
				return
			}
			hl := int(binary.LittleEndian.Uint32(p))
			// The response is in rd's buffer: keep the buffer, give the slot
			// a fresh one, and free the slot before writing to the client.
			buf := rd.detach()
			rd.closeFDs() // no frame of this response claims one
			h.pool.release(s, false, "")
			// A request waiting for the slot runs first and hands it to the
			// process before this one writes to its client: the process does
			// not idle for the length of that write.
			runtime.Gosched()
			h.answerWhole(w, r, s, p[4:4+hl], p[4+hl:])
			putBuf(buf)
			return
		case frameHeaders:
			if h.respondBuffered(w, r, s, n) {
				return
			}
			p, err := rd.payload(n)
			if err != nil {
				h.processFailed(w, r, s, err)
				return
			}
			block := append([]byte(nil), p...)
			sp := newSpool(h.cfg.BufferSize, maxSpill, h.cfg.TempDir)
			var refs atomic.Int32
			refs.Store(2)
			go h.pump(s, r, sp, -1, &refs)
			h.stream(w, r, s, block, sp, &refs)
			return
		default:
			h.processFailed(w, r, s, fmt.Errorf("%w: frame type %q before the headers", errProtocol, kind))
			return
		}
	}
}

// respondBuffered answers a streamed response (HEADERS, then BODY frames,
// then END with endOK) that is already whole in the read buffer the way a
// COMPLETE frame is answered: no pump goroutine and no spool, the slot
// freed before the client is written to, and a Content-Length. An app that
// returns an iterator (Flask's and Django's responses are ones) sends its
// HEADERS and BODY in one write and END in the next, and both are often
// there by the time the worker reads. n is the HEADERS payload's length;
// the reader stands at the payload. A response not all there yet, or with
// a LOG, a SENDFILE, any other END or a descriptor waiting, reports false
// and leaves the reader as it was, for the streaming path.
func (h *Handler) respondBuffered(w http.ResponseWriter, r *http.Request, s *slot, n int) bool {
	rd := s.rd
	buf := rd.buf[:rd.end]
	hstart, pos := rd.start, rd.start+n
	if pos > len(buf) || len(rd.fds) > 0 {
		return false
	}
	// First check that everything is there, then move the bodies together
	// over the frame headers between them.
	for p := pos; ; {
		if len(buf)-p < hdrLen {
			return false
		}
		kind, m := buf[p], binary.LittleEndian.Uint32(buf[p+1:])
		if uint64(m) > uint64(len(buf)-p-hdrLen) {
			return false
		}
		if kind == frameEnd {
			if m != 1 || buf[p+hdrLen] != endOK {
				return false
			}
			break
		}
		if kind != frameBody {
			return false
		}
		p += hdrLen + int(m)
	}
	body := pos
	for buf[pos] == frameBody {
		m := int(binary.LittleEndian.Uint32(buf[pos+1:]))
		body += copy(buf[body:], buf[pos+hdrLen:pos+hdrLen+m])
		pos += hdrLen + m
	}
	rd.start = pos + hdrLen + 1
	out := rd.detach()
	h.pool.release(s, false, "")
	runtime.Gosched() // as for a COMPLETE frame
	h.answerWhole(w, r, s, out[hstart:hstart+n], out[hstart+n:body])
	putBuf(out)
	return true
}

// respondLarge is a COMPLETE frame bigger than the read buffer: its headers
// are read now, its body is pumped like a streamed one.
func (h *Handler) respondLarge(w http.ResponseWriter, r *http.Request, s *slot, n int) {
	rd := s.rd
	lp, err := rd.payload(4)
	hl := 0
	if err == nil {
		if l := binary.LittleEndian.Uint32(lp); uint64(l) > uint64(n-4) {
			err = fmt.Errorf("%w: bad COMPLETE frame", errProtocol)
		} else {
			hl = int(l)
		}
	}
	var block []byte
	if err == nil {
		var p []byte
		p, err = rd.payload(hl)
		block = append([]byte(nil), p...)
	}
	if err != nil {
		h.processFailed(w, r, s, err)
		return
	}
	bodyLen := int64(n - 4 - hl)
	sp := newSpool(h.cfg.BufferSize, maxSpill, h.cfg.TempDir)
	var refs atomic.Int32
	refs.Store(2)
	go h.pump(s, r, sp, bodyLen, &refs)
	if w.Header().Get("Content-Length") == "" {
		w.Header().Set("Content-Length", strconv.FormatInt(bodyLen, 10))
	}
	h.stream(w, r, s, block, sp, &refs)
}

// reqLog is the logger for lines about r in s's process.
func (h *Handler) reqLog(s *slot, r *http.Request) *zerolog.Logger {
	l := h.log.With().Int("pid", s.p.pid).Str("request", reqInfo(r)).Logger()
	return &l
}

// processFailed answers a request whose process died, was killed, or broke
// the protocol, before any of the response was sent. Descriptors that came
// on the slot's socket are closed: the slot is not used again.
func (h *Handler) processFailed(w http.ResponseWriter, r *http.Request, s *slot, err error) {
	broken := errors.Is(err, errProtocol)
	timedOut := h.pool.timedOut(s.p)
	s.rd.closeFDs()
	h.pool.release(s, true, brokenWhy(broken, err))
	if timedOut {
		http.Error(w, "504 gateway timeout", http.StatusGatewayTimeout)
		return
	}
	ev := h.reqLog(s, r).Error()
	if broken {
		ev.Err(err).Msg("app process broke the protocol; killing it")
	} else {
		ev.Err(err).Msg("app process died handling the request")
	}
	http.Error(w, "502 bad gateway", http.StatusBadGateway)
}

// brokenWhy is why a slot whose read failed is released broken: logged for
// a protocol error; a process that just died says so itself when reaped.
func brokenWhy(protocol bool, err error) string {
	if !protocol || err == nil {
		return ""
	}
	return "protocol error: " + err.Error()
}

// fieldBufs hold the fields of a whole response while it is sent: a
// WholeWriter's interface call would move a stack array to the heap.
var fieldBufs = sync.Pool{New: func() any { b := make([]string, 16); return &b }}

// answerWhole sends a response whose status and headers are block and
// whose body is all here. A Content-Length the app declared that is not the
// body's length is logged; a longer body is cut to it, a shorter one ends
// the connection after it (the client sees it short). When w is a
// cgivars.WholeWriter the response goes out without a header map; when it
// is not, or declines, through w's header map.
func (h *Handler) answerWhole(w http.ResponseWriter, r *http.Request, s *slot, block, body []byte) {
	fb := fieldBufs.Get().(*[]string)
	defer func() {
		clear(*fb)
		fieldBufs.Put(fb)
	}()
	code, fields, declared, bad := checkBlock(block, (*fb)[:0])
	if bad != "" {
		h.badResponse(w, r, s, bad)
		return
	}
	if cap(fields) <= 64 {
		*fb = fields[:cap(fields)] // keep the array checkBlock grew, unless it is huge
	}
	if declared != "" && r.Method != http.MethodHead && bodyAllowed(code) {
		if n, _ := strconv.ParseInt(declared, 10, 64); n != int64(len(body)) {
			h.log.Warn().Str("request", reqInfo(r)).Msgf("app declared Content-Length %s and sent %d bytes", declared, len(body))
			if n < int64(len(body)) {
				body = body[:n]
			}
		}
	}
	if ww, ok := w.(cgivars.WholeWriter); ok {
		if _, done, _ := ww.WriteWhole(code, fields, body); done {
			return
		}
	}
	hdr := w.Header()
	fillHeader(hdr, fields)
	if declared == "" && bodyAllowed(code) && (len(body) > 0 || r.Method != http.MethodHead) {
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(code)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

func bodyAllowed(code int) bool {
	return code != http.StatusNoContent && code != http.StatusNotModified && code >= 200
}
