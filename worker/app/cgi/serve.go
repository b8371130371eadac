package cgi

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// serve runs one call: it finds the script, reads the body when it must be
// spooled, waits for a slot, runs the script and relays its response. It
// returns the call a local redirect leads to, or nil when the request is
// answered.
func (h *Handler) serve(w http.ResponseWriter, c *call) *call {
	r := c.r
	t, code, why := h.resolve(c)
	if code != 0 {
		h.log.Debug().Str("uri", r.RequestURI).Int("status", code).Str("reason", why).Msg("cgi no script")
		httpError(w, code)
		return nil
	}

	var in stdinSource
	bodyLen := int64(-1)
	if c.redirects == 0 {
		switch {
		case r.ContentLength > 0 && !t.nph:
			// Streamed into stdin while stdout is read. An nph script
			// spools instead: the connection may be hijacked, after
			// which the body must not be read.
			bodyLen = r.ContentLength
			in.reader = io.LimitReader(r.Body, r.ContentLength)
			// A script may answer before it reads its stdin. net/http's
			// HTTP/1 server would then discard the unread body as the
			// headers go out; full duplex keeps it for the feed. Other
			// protocols' writers do not need it (ErrNotSupported).
			_ = http.NewResponseController(w).EnableFullDuplex()
			in.unblock = func() bool {
				return http.NewResponseController(w).SetReadDeadline(aLongTimeAgo) == nil
			}
		case r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody:
			sp, err := spool(r.Body)
			if err != nil {
				code := http.StatusBadRequest
				if errors.Is(err, errTooLarge) {
					code = http.StatusRequestEntityTooLarge
				} else if r.Context().Err() != nil {
					panic(http.ErrAbortHandler) // not an empty 200 to a half-closed client
				}
				h.log.Debug().Err(err).Str("uri", r.RequestURI).Msg("cgi request body")
				httpError(w, code)
				return nil
			}
			defer sp.Close()
			in = sp.source()
			if sp.n > 0 || declaresBody(r) {
				bodyLen = sp.n
			}
		case declaresBody(r):
			bodyLen = 0
		}
	}

	if !h.acquire(r.Context()) {
		if r.Context().Err() != nil {
			panic(http.ErrAbortHandler)
		}
		h.log.Warn().Str("script", t.filename).Int("max_scripts", cap(h.slots)).Msg("cgi busy: no free script slot")
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable)
		return nil
	}
	defer h.release()

	p, err := h.start(r.Context(), t, h.env(c, t, bodyLen), in)
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, syscall.E2BIG):
			code = http.StatusRequestHeaderFieldsTooLarge
		case errors.Is(err, os.ErrPermission):
			code = http.StatusForbidden
		}
		h.log.Error().Err(err).Str("script", t.filename).Int("status", code).Msg("cgi start failed")
		httpError(w, code)
		return nil
	}
	if t.nph {
		h.relayNPH(w, c, p)
		return nil
	}
	return h.relay(w, c, p)
}

// relay reads the script's header block and answers accordingly (RFC 3875
// §6.2): a local redirect returns the next call; a document or a client
// redirect is written to w.
func (h *Handler) relay(w http.ResponseWriter, c *call, p *proc) *call {
	br := getReader(p.stdout)
	defer putReader(br)
	hdr, err := readHeader(br)
	if err != nil {
		h.failEarly(w, c, p, err)
		return nil
	}

	if hdr.status == 0 && strings.HasPrefix(hdr.location, "/") {
		// Local redirect: the rest of the output is not the client's.
		_, rerr := io.Copy(io.Discard, br)
		why := p.reason()
		p.finish(reasonNone)
		switch {
		case why != reasonNone || rerr != nil:
			h.answerKilled(w, c, p, why, rerr)
			return nil
		case c.redirects >= maxRedirects:
			h.invalid(w, p, "more than 10 local redirects (a loop?)")
			return nil
		}
		next, err := redirectCall(c, hdr.location)
		if err != nil {
			h.invalid(w, p, err.Error())
			return nil
		}
		return next
	}
	if hdr.location != "" && !strings.HasPrefix(hdr.location, "/") && !isAbsoluteURL(hdr.location) {
		p.finish(reasonAbandoned)
		h.invalid(w, p, "Location is neither an absolute URL nor a path: "+truncate([]byte(hdr.location)))
		return nil
	}

	status := hdr.status
	if status == 0 {
		status = http.StatusOK
		if hdr.location != "" {
			status = http.StatusFound
		}
	}
	chunked, cl, ok := framing(hdr.fields)
	if !ok {
		p.finish(reasonAbandoned)
		h.invalid(w, p, "invalid Content-Length or Transfer-Encoding")
		return nil
	}
	dropHopByHop(hdr.fields)
	wh := w.Header()
	for k, vv := range hdr.fields {
		wh[k] = vv
	}
	if cl != "" && !chunked {
		wh.Set("Content-Length", cl)
	}
	if hdr.location != "" {
		wh.Set("Location", hdr.location)
	}
	w.WriteHeader(status)

	discard := c.r.Method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified
	limit := int64(-1)
	if cl != "" && !chunked {
		limit, _ = strconv.ParseInt(cl, 10, 64)
	}
	res := copyBody(w, br, p.stdout, discard, chunked, limit, flushDelay, p.outputComplete)
	why := p.reason() // a kill can make the output end as if it were complete
	switch {
	case res.werr != nil:
		p.finish(reasonClientGone)
		h.log.Debug().Err(res.werr).Str("script", p.script).Msg("cgi response not delivered")
	case res.rerr != nil || why != reasonNone:
		p.finish(reasonAbandoned)
		if why == reasonClientGone {
			// A client that only half-closed still reads: it must see
			// the response cut off, not ended as if it were whole.
			panic(http.ErrAbortHandler)
		}
		ev := h.log.Warn().Str("script", p.script).Int("pid", p.pid)
		if why != reasonNone {
			ev = ev.Str("killed", why.String())
		} else {
			ev = ev.Str("reason", errString(res.rerr))
		}
		ev.Msg("cgi output cut short; response aborted")
		panic(http.ErrAbortHandler) // the client must not take a cut-off body for a whole one
	default:
		p.finish(reasonNone)
		if res.overflow {
			h.log.Warn().Str("script", p.script).Msg("cgi output longer than its Content-Length; the rest was dropped")
		}
	}
	return nil
}

// failEarly answers a run whose header block could not be read.
func (h *Handler) failEarly(w http.ResponseWriter, c *call, p *proc, err error) {
	var oe *outputError
	why := p.reason()
	if why == reasonNone && errors.As(err, &oe) {
		abort := reasonAbandoned
		if oe.eof {
			abort = reasonNone // it is exiting: keep its own exit status
		}
		p.finish(abort)
		h.invalid(w, p, oe.reason)
		return
	}
	p.finish(reasonAbandoned)
	h.answerKilled(w, c, p, why, err)
}

// answerKilled answers a run that was killed, or whose output could not be
// read, before anything was sent.
func (h *Handler) answerKilled(w http.ResponseWriter, c *call, p *proc, why killReason, err error) {
	switch why {
	case reasonClientGone:
		// Returning would send an empty 200 to a client that may still
		// read (it only half-closed): end the connection instead.
		panic(http.ErrAbortHandler)
	case reasonTimeout:
		h.log.Warn().Str("script", p.script).Int("pid", p.pid).Dur("script_timeout", h.timeout).Msg("cgi timeout")
		httpError(w, http.StatusGatewayTimeout)
	case reasonShutdown:
		httpError(w, http.StatusServiceUnavailable)
	case reasonBodyCut:
		httpError(w, http.StatusBadRequest)
	default:
		h.invalid(w, p, "reading its output: "+errString(err))
	}
}

// invalid answers 502 for a script that did not give a valid response.
func (h *Handler) invalid(w http.ResponseWriter, p *proc, reason string) {
	h.log.Error().Str("script", p.script).Int("pid", p.pid).Str("exit", p.exitString()).
		Str("reason", reason).Msg("cgi invalid output")
	httpError(w, http.StatusBadGateway)
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// redirectCall is the call a local redirect to loc leads to: a GET (a HEAD
// stays a HEAD) for loc, without a body, with the original headers.
func redirectCall(c *call, loc string) (*call, error) {
	u, err := url.Parse(loc)
	if err != nil || u.Path == "" || u.Scheme != "" || u.Host != "" {
		return nil, errors.New("invalid local redirect Location: " + truncate([]byte(loc)))
	}
	r := c.r.Clone(c.r.Context())
	if r.Method != http.MethodHead {
		r.Method = http.MethodGet
	}
	r.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	r.RequestURI = r.URL.RequestURI()
	r.Body = http.NoBody
	r.ContentLength = 0
	r.TransferEncoding = nil
	for _, k := range []string{"Content-Length", "Content-Type", "Transfer-Encoding"} {
		r.Header.Del(k)
	}
	orig := c.origURI
	if orig == "" {
		orig = c.r.RequestURI
	}
	return &call{r: r, front: c.front, redirects: c.redirects + 1, origURI: orig}, nil
}

// isAbsoluteURL reports whether s starts with a URI scheme and a colon.
func isAbsoluteURL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// framing reads the script's Content-Length and Transfer-Encoding. chunked:
// the script sent "Transfer-Encoding: chunked" (and a chunked body, which
// is decoded; net/http frames the response itself). cl: a valid
// Content-Length, "" when absent or overridden by chunked. ok is false for
// a Content-Length that is not digits, differing repeats, or another
// transfer coding.
func framing(f http.Header) (chunked bool, cl string, ok bool) {
	if te := f.Values("Transfer-Encoding"); len(te) > 0 {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return false, "", false
		}
		chunked = true
	}
	for _, v := range f.Values("Content-Length") {
		if v == "" || strings.Trim(v, "0123456789") != "" || len(v) > 18 || cl != "" && cl != v {
			return false, "", false
		}
		cl = v
	}
	f.Del("Content-Length")
	if chunked {
		cl = ""
	}
	return chunked, cl, true
}

// dropHopByHop removes the headers a script must not send (RFC 3875 §6.3.4
// allows the server to strip them): Connection and the headers it names,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding and Upgrade.
func dropHopByHop(f http.Header) {
	for _, v := range f.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				f.Del(name)
			}
		}
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(f, k)
	}
}
