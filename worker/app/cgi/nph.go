package cgi

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
)

// relayNPH relays the output of a non-parsed-header script (RFC 3875 §5),
// one whose name starts with "nph-": a complete HTTP response, status line
// first. Output that does not start with "HTTP/" is invalid (502).
//
// Over arbiter's HTTP listener the connection is hijacked and the output
// goes to the client byte for byte, HEAD or not; the connection is closed
// after it (no keep-alive). Where the connection cannot be hijacked
// (FastCGI, SCGI and uwsgi, whose front end frames the response itself),
// the status line and header are parsed and passed on through w instead,
// as for a parsed-header script: see relayParsedNPH.
func (h *Handler) relayNPH(w http.ResponseWriter, c *call, p *proc) {
	br := getReader(p.stdout)
	defer putReader(br)
	b, err := br.Peek(len("HTTP/"))
	switch {
	case err == io.EOF && len(b) == 0:
		h.failEarly(w, c, p, &outputError{reason: "no output", eof: true})
		return
	case err == io.EOF:
		h.failEarly(w, c, p, &outputError{reason: "output ended within the status line", eof: true})
		return
	case err != nil:
		h.failEarly(w, c, p, err)
		return
	case string(b) != "HTTP/":
		h.failEarly(w, c, p, badOutput("nph output does not start with an HTTP status line"))
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.relayParsedNPH(w, c, br, p)
		return
	}
	defer conn.Close()
	h.passThrough(conn, br, p)
}

// passThrough copies the output to a hijacked connection until it ends.
// The connection's write deadline is the end of the script's time limit.
// A hijacked connection has no request context watching it: a client that
// goes away is noticed when a write to it fails.
func (h *Handler) passThrough(conn net.Conn, br *bufio.Reader, p *proc) {
	if h.timeout > 0 {
		conn.SetWriteDeadline(p.start.Add(h.timeout))
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		n, err := br.Read(*bp)
		if n > 0 {
			if _, werr := conn.Write((*bp)[:n]); werr != nil {
				p.finish(reasonClientGone)
				h.log.Debug().Err(werr).Str("script", p.script).Msg("cgi nph response not delivered")
				return
			}
		}
		why := p.reason()
		if err == io.EOF && why == reasonNone {
			p.finish(reasonNone)
			return
		}
		if err != nil {
			p.finish(reasonAbandoned)
			h.log.Warn().Str("script", p.script).Int("pid", p.pid).Str("killed", why.String()).Err(err).
				Msg("cgi nph output cut short; connection closed")
			return
		}
	}
}

// relayParsedNPH answers with an nph script's response through w: its
// status (200–599), its header without hop-by-hop fields, and its body,
// decoded if the script sent it chunked. Invalid output is 502.
func (h *Handler) relayParsedNPH(w http.ResponseWriter, c *call, br *bufio.Reader, p *proc) {
	resp, err := http.ReadResponse(br, c.r)
	if err != nil {
		if p.reason() == reasonNone {
			err = badOutput("invalid nph status line or header: %v", err)
		}
		h.failEarly(w, c, p, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		h.failEarly(w, c, p, badOutput("invalid nph status %d", resp.StatusCode))
		return
	}
	dropHopByHop(resp.Header)
	resp.Header.Del("Content-Length")
	wh := w.Header()
	for k, vv := range resp.Header {
		wh[k] = vv
	}
	if resp.ContentLength >= 0 && len(resp.TransferEncoding) == 0 {
		wh.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)

	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	discard := c.r.Method == http.MethodHead
	var rerr error
	for {
		n, err := resp.Body.Read(*bp)
		if n > 0 && !discard {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				p.finish(reasonClientGone)
				return
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				p.finish(reasonClientGone)
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if rerr == nil {
		_, rerr = io.Copy(io.Discard, br) // what follows the body, and a HEAD's body
	}
	if why := p.reason(); rerr != nil || why != reasonNone {
		p.finish(reasonAbandoned)
		if why != reasonClientGone {
			h.log.Warn().Str("script", p.script).Int("pid", p.pid).Str("killed", why.String()).AnErr("reason", rerr).
				Msg("cgi nph output cut short; response aborted")
			panic(http.ErrAbortHandler)
		}
		return
	}
	p.finish(reasonNone)
}
