package wsgi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

// pump reads the rest of a response from s into sp: BODY, SENDFILE and LOG
// frames until END (or bodyLen bytes of a COMPLETE frame's body), then
// frees the slot. When the client is gone, it asks the app to stop (ABORT)
// and drops what still comes.
func (h *Handler) pump(s *slot, r *http.Request, sp *spool, bodyLen int64, refs *atomic.Int32) {
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
