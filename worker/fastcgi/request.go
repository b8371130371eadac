package fastcgi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// Request phases, as the read loop sees the input.
const (
	phaseParams int32 = iota // BEGIN_REQUEST received, PARAMS stream open
	phaseBody                // PARAMS ended, handler started, STDIN open
	phaseDone                // empty STDIN received
)

// Errors behind the per-request timeouts.
var errParamsTimeout = errors.New("fastcgi: params not received within the read header timeout")

// request is one active request. The read loop owns params, started and the
// input phase; the handler goroutine owns out; ended and aborted are guarded
// by conn.wmu; body synchronizes itself.
type request struct {
	c       *conn
	id      uint16
	keep    bool // FCGI_KEEP_CONN
	began   time.Time
	phase   atomic.Int32
	started bool // the handler goroutine was started
	params  strings.Builder
	body    body
	out     stdout
	ctx     context.Context
	cancel  context.CancelFunc
	timer   *time.Timer

	ended   bool // END_REQUEST sent (guarded by conn.wmu)
	aborted bool // it was sent because of ABORT_REQUEST (guarded by conn.wmu)
}

func newRequest(c *conn, id uint16, keep bool) *request {
	r := &request{c: c, id: id, keep: keep}
	r.out.req = r
	r.body.readable.L = &r.body.mu
	r.ctx, r.cancel = context.WithCancel(c.ctx)
	return r
}

// endedErr is what a write after END_REQUEST returns. wmu is held.
func (r *request) endedErr() error {
	if r.aborted {
		return ErrAborted
	}
	return errFinished
}

// startTimer arms the request's read timeouts: the params must be complete
// within ReadHeaderTimeout, the whole input within ReadTimeout.
func (r *request) startTimer() {
	cfg := r.c.cfg
	d := cfg.paramsTimeout()
	if d <= 0 {
		return
	}
	r.began = time.Now()
	r.timer = time.AfterFunc(d, r.timedOut)
}

// timedOut is the timer's callback. A late or early firing (the phase moved
// on, the timer was re-armed) is recognised by the clock and ignored.
func (r *request) timedOut() {
	cfg := r.c.cfg
	now := time.Now()
	r.c.mu.Lock()
	active := r.c.reqs[r.id] == r
	r.c.mu.Unlock()
	if !active {
		return
	}
	switch r.phase.Load() {
	case phaseParams:
		if d := cfg.paramsTimeout(); d > 0 && now.Sub(r.began) >= d {
			r.c.srv.Log.Bad(r.c.peer, fmt.Errorf("%w (request %d)", errParamsTimeout, r.id))
			r.c.kill()
		}
	case phaseBody:
		if cfg.readTimeout > 0 && now.Sub(r.began) >= cfg.readTimeout {
			r.body.fail(ErrBodyTimeout)
		}
	}
}

func (r *request) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
	}
}

// params handles a PARAMS record for req.
func (c *conn) params(req *request, h header) error {
	if req.phase.Load() != phaseParams {
		return protoErrorf("PARAMS for request %d after its params stream ended", req.id)
	}
	if h.length == 0 {
		return c.paramsDone(req)
	}
	if req.params.Len()+h.length > c.cfg.maxParams {
		if err := c.skip(h.length); err != nil {
			return err
		}
		c.srv.Log.Bad(c.peer, fmt.Errorf("fastcgi: request %d: params over %d bytes", req.id, c.cfg.maxParams))
		c.answerError(req, http.StatusRequestHeaderFieldsTooLarge)
		return nil
	}
	if req.params.Cap() == 0 {
		req.params.Grow(h.length)
	}
	for left := h.length; left > 0; {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return err
			}
		}
		b, _ := c.br.Peek(min(left, c.br.Buffered()))
		req.params.Write(b)
		_, _ = c.br.Discard(len(b))
		left -= len(b)
	}
	return nil
}

// paramsDone handles the empty PARAMS record: the variables are decoded,
// the request built, and the handler started.
func (c *conn) paramsDone(req *request) error {
	s := req.params.String()
	req.params = strings.Builder{}
	env := make(map[string]string, 32)
	// Repeated HTTP_* headers are merged, other repeated names keep their
	// last value (cgivars.AddParam).
	if err := parseParams(s, func(name, value string) { cgivars.AddParam(env, name, value) }); err != nil {
		return protoErrorf("request %d: %v", req.id, err)
	}
	clen := int64(-1)
	if v := env["CONTENT_LENGTH"]; v != "" && v != "-1" {
		if n, ok := cgivars.ParseDigits(v); ok {
			clen = n
		}
	}
	req.body.setLimits(c.cfg.bodyBuffer, clen)
	hr, err := cgivars.NewRequest(req.ctx, env, &req.body)
	if err != nil {
		c.srv.Log.Bad(c.peer, fmt.Errorf("fastcgi: request %d: %w", req.id, err))
		c.answerError(req, http.StatusBadRequest)
		return nil
	}
	req.phase.Store(phaseBody)
	if req.timer != nil {
		if c.cfg.readTimeout > 0 {
			req.timer.Reset(c.cfg.readTimeout - time.Since(req.began))
		} else {
			req.timer.Stop()
		}
	}
	req.started = true
	c.handlers.Add(1)
	go req.run(hr)
	return nil
}

// stdin handles a STDIN record for req.
func (c *conn) stdin(req *request, h header) error {
	switch req.phase.Load() {
	case phaseParams:
		return protoErrorf("STDIN for request %d before its params stream ended", req.id)
	case phaseDone:
		return protoErrorf("STDIN for request %d after its stdin stream ended", req.id)
	}
	if h.length == 0 {
		req.phase.Store(phaseDone)
		req.stopTimer()
		req.body.end()
		return nil
	}
	for left := h.length; left > 0; {
		region, room, discard := req.body.space(left)
		if discard {
			return c.skip(left)
		}
		if room != nil {
			if err := c.waitRoom(req, room); err != nil {
				return err
			}
			continue
		}
		n, err := c.br.Read(region)
		req.body.commit(n)
		left -= n
		if err != nil {
			return err
		}
	}
	return nil
}

// answerError answers req with a short error response, without running
// the handler.
func (c *conn) answerError(req *request, code int) {
	text := http.StatusText(code)
	content := fmt.Sprintf("Status: %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s\n",
		code, text, len(text)+1, text)
	b := appendRecord(nil, typeStdout, req.id, []byte(content))
	b = appendHeader(b, typeStdout, req.id, 0)
	b = appendEndRequest(b, req.id, 0, statusRequestComplete)
	req.cancel()
	req.body.fail(errBodyClosed)
	c.end(req, b, false)
}

// run is the handler goroutine of a request.
func (r *request) run(hr *http.Request) {
	c := r.c
	defer func() {
		c.mu.Lock()
		c.slots--
		c.mu.Unlock()
		c.handlers.Done()
	}()
	var appStatus uint32
	if !r.serveHTTP(hr) {
		appStatus = 1
	}
	_ = r.body.Close()
	c.end(r, r.out.finish(appStatus), false)
	r.out.release()
	r.cancel()
}

// serveHTTP runs the handler and reports whether the response was complete.
// A panic is recovered and logged (except http.ErrAbortHandler); if nothing
// of the response had reached the connection yet, a 500 replaces it.
func (r *request) serveHTTP(hr *http.Request) (ok bool) {
	rw := cgivars.NewResponseWriter(&r.out, cgivars.StatusHeader, hr)
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		ok = false
		if p != http.ErrAbortHandler {
			r.c.srv.Log.Bad(r.c.peer, fmt.Errorf("fastcgi: panic serving %s %s: %v\n%s",
				hr.Method, hr.RequestURI, p, debug.Stack()))
		}
		if !rw.Committed() {
			rw := cgivars.NewResponseWriter(&r.out, cgivars.StatusHeader, hr)
			http.Error(rw, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			_ = rw.Finish()
		}
	}()
	h := r.c.srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	h.ServeHTTP(rw, hr)
	return rw.Finish() == nil
}
