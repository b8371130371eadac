package wsgi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

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
		s, err := h.pool.acquire(r.Context())
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
		_, err := s.c.Write(e)
		return err
	}
	bufs := net.Buffers{e, b.mem}
	_, err := bufs.WriteTo(s.c)
	return err
}

// reqInfo names a request in log lines.
func reqInfo(r *http.Request) string { return r.Method + " " + r.RequestURI }

// respond reads the app's response from s and sends it to w. The slot is
// released as soon as the app is done, before a slow client has read it.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, s *slot) {
	var timer *time.Timer
	if h.cfg.RequestTimeout > 0 {
		seq := s.seq
		timer = time.AfterFunc(h.cfg.RequestTimeout, func() { h.pool.timeout(s, seq, reqInfo(r)) })
	}
	stop := func() {
		if timer != nil {
			timer.Stop()
		}
	}
	rd := s.rd
	for {
		kind, n, err := rd.header()
		if err != nil {
			stop()
			h.processFailed(w, r, s, err)
			return
		}
		switch kind {
		case frameLog:
			p, err := rd.payload(n)
			if err != nil {
				stop()
				h.processFailed(w, r, s, err)
				return
			}
			h.pool.logFrame(*h.reqLog(s, r), p)
		case frameEnd:
			p, err := rd.payload(n)
			stop()
			if err != nil || len(p) != 1 {
				h.processFailed(w, r, s, fmt.Errorf("%w: END of %d bytes", errProtocol, n))
				return
			}
			h.pool.release(s, false, "")
			http.Error(w, "500 internal server error", http.StatusInternalServerError)
			return
		case frameComplete:
			if n > len(rd.buf)-hdrLen && n > 4 {
				h.respondLarge(w, r, s, n, stop)
				return
			}
			p, err := rd.payload(n)
			if err != nil || len(p) < 4 || int(binary.LittleEndian.Uint32(p)) > len(p)-4 {
				stop()
				h.processFailed(w, r, s, errors.Join(err, fmt.Errorf("%w: bad COMPLETE frame", errProtocol)))
				return
			}
			stop()
			hl := int(binary.LittleEndian.Uint32(p))
			// The response is in rd's buffer: keep the buffer, give the slot
			// a fresh one, and free the slot before writing to the client.
			buf := rd.detach()
			h.pool.release(s, false, "")
			// A request waiting for the slot runs first and hands it to the
			// process before this one writes to its client: the process does
			// not idle for the length of that write.
			runtime.Gosched()
			code, err := h.setHeaders(w, p[4:4+hl], r, s)
			if err == nil {
				body := p[4+hl:]
				h.writeWhole(w, r, code, body)
			}
			putBuf(buf)
			return
		case frameHeaders:
			p, err := rd.payload(n)
			if err != nil {
				stop()
				h.processFailed(w, r, s, err)
				return
			}
			block := append([]byte(nil), p...)
			sp := newSpool(h.cfg.BufferSize, maxSpill, h.cfg.TempDir)
			var refs atomic.Int32
			refs.Store(2)
			go h.pump(s, r, sp, -1, stop, &refs)
			h.stream(w, r, s, block, sp, &refs)
			return
		default:
			stop()
			h.processFailed(w, r, s, fmt.Errorf("%w: frame type %q before the headers", errProtocol, kind))
			return
		}
	}
}

// respondLarge is a COMPLETE frame bigger than the read buffer: its headers
// are read now, its body is pumped like a streamed one.
func (h *Handler) respondLarge(w http.ResponseWriter, r *http.Request, s *slot, n int, stop func()) {
	rd := s.rd
	lp, err := rd.payload(4)
	hl := 0
	if err == nil {
		hl = int(binary.LittleEndian.Uint32(lp))
		if hl > n-4 {
			err = fmt.Errorf("%w: bad COMPLETE frame", errProtocol)
		}
	}
	var block []byte
	if err == nil {
		var p []byte
		p, err = rd.payload(hl)
		block = append([]byte(nil), p...)
	}
	if err != nil {
		stop()
		h.processFailed(w, r, s, err)
		return
	}
	bodyLen := int64(n - 4 - hl)
	sp := newSpool(h.cfg.BufferSize, maxSpill, h.cfg.TempDir)
	var refs atomic.Int32
	refs.Store(2)
	go h.pump(s, r, sp, bodyLen, stop, &refs)
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
// the protocol, before any of the response was sent.
func (h *Handler) processFailed(w http.ResponseWriter, r *http.Request, s *slot, err error) {
	broken := errors.Is(err, errProtocol)
	timedOut := h.pool.timedOut(s.p)
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

// Hop-by-hop headers an app must not send (PEP 3333); a Connection: close
// is honoured, the rest are dropped.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true,
}

// setHeaders puts the app's status and headers into w's header map and
// returns the status code. A block the runner should never have let
// through (a bad status or header) is a 500, logged.
func (h *Handler) setHeaders(w http.ResponseWriter, block []byte, r *http.Request, s *slot) (int, error) {
	status, rest, _ := bytes.Cut(block, []byte{0})
	code, ok := 0, len(status) >= 3 && (len(status) == 3 || status[3] == ' ')
	if ok {
		c, err := strconv.Atoi(string(status[:3]))
		code, ok = c, err == nil && c >= 200 && c <= 999
	}
	if !ok {
		return 0, h.badResponse(w, r, s, fmt.Sprintf("bad status %q", status))
	}
	hdr := w.Header()
	for len(rest) > 0 {
		name, r2, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			return 0, h.badResponse(w, r, s, "a header without a value")
		}
		var value []byte
		value, rest, _ = bytes.Cut(r2, []byte{0})
		if !cgivars.IsToken(string(name)) || !validValue(value) {
			return 0, h.badResponse(w, r, s, fmt.Sprintf("bad header %q: %q", name, value))
		}
		key := http.CanonicalHeaderKey(string(name))
		if hopByHop[key] {
			if key == "Connection" && bytes.Contains(bytes.ToLower(value), []byte("close")) {
				hdr.Set("Connection", "close")
			}
			continue
		}
		if key == "Content-Length" {
			if _, ok := cgivars.ParseDigits(string(value)); !ok {
				return 0, h.badResponse(w, r, s, fmt.Sprintf("bad Content-Length %q", value))
			}
		}
		hdr[key] = append(hdr[key], string(value))
	}
	return code, nil
}

func validValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

var errBadResponse = errors.New("bad response from the app")

func (h *Handler) badResponse(w http.ResponseWriter, r *http.Request, s *slot, what string) error {
	h.reqLog(s, r).Error().Msg("app sent a response arbiter cannot send: " + what)
	clear(w.Header())
	http.Error(w, "500 internal server error", http.StatusInternalServerError)
	return errBadResponse
}

// writeWhole sends a response whose body is all here.
func (h *Handler) writeWhole(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	hdr := w.Header()
	if cl := hdr["Content-Length"]; len(cl) > 0 {
		if n, _ := strconv.ParseInt(cl[0], 10, 64); n != int64(len(body)) && r.Method != http.MethodHead && bodyAllowed(code) {
			h.log.Warn().Str("request", reqInfo(r)).Msgf("app declared Content-Length %s and sent %d bytes", cl[0], len(body))
			if n < int64(len(body)) {
				body = body[:n]
			}
		}
	} else if bodyAllowed(code) && (len(body) > 0 || r.Method != http.MethodHead) {
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

// pump reads the rest of a response from s into sp: BODY, SENDFILE and LOG
// frames until END (or bodyLen bytes of a COMPLETE frame's body), then
// frees the slot. When the client is gone, it asks the app to stop (ABORT)
// and drops what still comes.
func (h *Handler) pump(s *slot, r *http.Request, sp *spool, bodyLen int64, stop func(), refs *atomic.Int32) {
	defer func() {
		if refs.Add(-1) == 0 {
			sp.close()
		}
	}()
	rd := s.rd
	aborted := false
	put := func(p []byte) error {
		if aborted {
			return nil
		}
		if err := sp.put(p); err != nil {
			aborted = true
			if !errors.Is(err, errAbandoned) {
				h.reqLog(s, r).Error().Err(err).Msg("cannot buffer the response")
			}
			if bodyLen < 0 {
				_ = writeFrame(s.c, frameAbort, nil, -1)
			}
		}
		return nil
	}
	var perr error
	code := byte(endOK)
	if bodyLen >= 0 {
		perr = rd.stream(int(bodyLen), put)
	} else {
	frames:
		for {
			kind, n, err := rd.header()
			if err != nil {
				perr = err
				break
			}
			switch kind {
			case frameBody:
				perr = rd.stream(n, put)
			case frameLog:
				var p []byte
				if p, perr = rd.payload(n); perr == nil {
					h.pool.logFrame(*h.reqLog(s, r), p)
				}
			case frameSendfile:
				var p []byte
				p, perr = rd.payload(n)
				if perr == nil && n != 16 {
					perr = fmt.Errorf("%w: SENDFILE of %d bytes", errProtocol, n)
				}
				if perr == nil {
					var fd int
					if fd, perr = rd.takeFD(); perr == nil {
						f := os.NewFile(uintptr(fd), "wsgi.file_wrapper")
						if aborted {
							f.Close()
						} else {
							sp.putFile(f, int64(binary.LittleEndian.Uint64(p)))
						}
					}
				}
			case frameEnd:
				var p []byte
				p, perr = rd.payload(n)
				if perr == nil && len(p) == 1 {
					code = p[0]
					break frames
				}
				perr = errors.Join(perr, fmt.Errorf("%w: END of %d bytes", errProtocol, n))
			default:
				perr = fmt.Errorf("%w: frame type %q in a response", errProtocol, kind)
			}
			if perr != nil {
				break
			}
		}
	}
	stop()
	rd.closeFDs()
	if perr != nil {
		if h.pool.timedOut(s.p) {
			perr = fmt.Errorf("killed after request_timeout: %w", perr)
		} else if !aborted {
			h.reqLog(s, r).Error().Err(perr).Msg("app process failed while sending the response")
		}
		code = endAbort
	}
	h.pool.release(s, perr != nil, brokenWhy(errors.Is(perr, errProtocol), perr))
	sp.finish(code, perr)
}

// stream sends a response the pump fills: the headers once the first body
// bytes (or the end) are there, so that a response that turns out to be
// whole gets a Content-Length, then each batch as it comes, flushed.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, s *slot, block []byte, sp *spool, refs *atomic.Int32) {
	defer func() {
		if refs.Add(-1) == 0 {
			sp.close()
		}
	}()
	code, err := h.setHeaders(w, block, r, s)
	if err != nil {
		sp.abandon()
		return
	}
	items, done, endCode, perr := sp.take(true)
	hdr := w.Header()
	if hdr["Content-Length"] == nil && bodyAllowed(code) {
		switch {
		case done && perr == nil && endCode == endOK && !hasFile(items):
			hdr["Content-Length"] = []string{strconv.Itoa(dataLen(items))}
		case len(items) == 1 && items[0].appFile != nil:
			// wsgi.file_wrapper: the file is the whole body.
			if fi, err := items[0].appFile.Stat(); err == nil && fi.Mode().IsRegular() {
				hdr["Content-Length"] = []string{strconv.FormatInt(max(fi.Size()-items[0].off, 0), 10)}
			}
		}
	}
	w.WriteHeader(code)
	rc := http.NewResponseController(w)
	var limit int64 = -1
	if cl := hdr["Content-Length"]; len(cl) > 0 {
		limit, _ = strconv.ParseInt(cl[0], 10, 64)
	}
	for {
		for _, it := range items {
			if err := h.writeItem(w, sp, it, &limit); err != nil {
				for _, rest := range items {
					if rest.appFile != nil {
						rest.appFile.Close()
					}
				}
				sp.abandon()
				return
			}
		}
		sp.written()
		if done {
			break
		}
		if items, done, endCode, perr = sp.take(false); len(items) == 0 && !done {
			_ = rc.Flush()
			items, done, endCode, perr = sp.take(true)
		}
	}
	if perr != nil || endCode != endOK {
		_ = rc.Flush()
		panic(http.ErrAbortHandler) // the client must not take a cut body for a whole one
	}
}

func hasFile(items []spoolItem) bool {
	for _, it := range items {
		if it.appFile != nil {
			return true
		}
	}
	return false
}

func dataLen(items []spoolItem) int {
	n := 0
	for _, it := range items {
		if it.inTmp {
			n += int(it.n)
		} else {
			n += len(it.data)
		}
	}
	return n
}

// writeItem sends one item, at most *limit bytes when the app declared a
// Content-Length (-1: no limit).
func (h *Handler) writeItem(w http.ResponseWriter, sp *spool, it spoolItem, limit *int64) error {
	var src io.Reader
	switch {
	case it.appFile != nil:
		defer it.appFile.Close()
		if _, err := it.appFile.Seek(it.off, io.SeekStart); err != nil {
			return err
		}
		src = it.appFile
	case it.inTmp:
		src = sp.readItem(it)
	default:
		if *limit >= 0 && int64(len(it.data)) > *limit {
			it.data = it.data[:*limit]
		}
		n, err := w.Write(it.data)
		if *limit >= 0 {
			*limit -= int64(n)
		}
		if errors.Is(err, http.ErrBodyNotAllowed) {
			return nil
		}
		return err
	}
	if *limit >= 0 {
		src = &io.LimitedReader{R: src, N: *limit}
	}
	n, err := io.Copy(w, src) // sendfile for an *os.File over TCP
	if *limit >= 0 {
		*limit -= n
	}
	if errors.Is(err, http.ErrBodyNotAllowed) {
		return nil
	}
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
