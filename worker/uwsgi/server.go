// Package uwsgi is a uwsgi server (the uwsgi protocol of unbit's
// Protocol.rst, as nginx's uwsgi_pass speaks it): each connection carries one
// request, a 4-byte header (modifier1, datasize little-endian, modifier2) and
// a block of CGI variables, then a body of CONTENT_LENGTH bytes, and gets one
// response with a full HTTP status line ("HTTP/1.1 200 OK": Apache's
// mod_proxy_uwsgi and the uWSGI router need it), after which the server
// closes it.
package uwsgi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/cgivars/oneshot"
	"github.com/arbiter-dev/arbiter/worker/peerlog"
)

// Server serves uwsgi. Set its fields before the first call to Serve,
// Shutdown or Close; later changes have no effect.
//
// A request is handed to Handler as built by cgivars.NewRequest. Its body
// length comes only from CONTENT_LENGTH (the protocol has no framing of its
// own): digits give a body of that many bytes; with CONTENT_LENGTH empty,
// absent or "-1", the request has no body, unless HTTP_TRANSFER_ENCODING is
// chunked (the uWSGI router's --http-chunked-input forwards the client's
// chunked stream), in which case the server decodes the chunked body and
// ContentLength is -1. The request context ends when the peer closes the
// connection after sending the whole body (cause oneshot.ErrPeerGone), when
// a write fails, or when the handler returns. The response never has
// Transfer-Encoding: it ends with the connection, or at its Content-Length.
//
// Bad input closes the connection and is logged once through Log with the
// peer and the reason: a bad packet (a modifier1 other than 0, 5, 7, 9, 11,
// 14 or 30, which rejects an HTTP request sent to the uwsgi port; a datasize
// over MaxVarsBytes; the stream ending early) just closes it; a complete
// packet with a bad vars block (an empty key, a length overrunning the
// block, a stray byte, more than MaxVars vars, no REQUEST_METHOD, a
// CONTENT_LENGTH that is not a number) is answered "HTTP/1.1 400 Bad
// Request" first. A body shorter than CONTENT_LENGTH makes the handler's
// read fail with io.ErrUnexpectedEOF; bytes after the body are ignored.
//
// A handler panic is logged and answered with 500 if nothing of the
// response was sent yet; otherwise the connection is reset, so that the
// front end does not take a truncated response for a whole one. Memory per
// connection is bounded by MaxVarsBytes plus a few KiB of buffers.
type Server struct {
	Handler           http.Handler    // nil means http.DefaultServeMux
	BaseContext       context.Context // parent of every request's context; nil = context.Background()
	Log               *peerlog.Logger // nil discards
	MaxConns          int             // concurrent connections; 0 = unlimited (further accepts wait)
	MaxVarsBytes      int             // cap on the vars block; 0 = DefaultMaxVarsBytes
	ReadHeaderTimeout time.Duration   // time to read the packet header and vars, from accept; 0 = ReadTimeout
	ReadTimeout       time.Duration   // the whole request including body, from accept; 0 = none
	WriteTimeout      time.Duration   // handler and response, from the end of the vars; 0 = none

	once sync.Once
	srv  *oneshot.Server
}

func (s *Server) core() *oneshot.Server {
	s.once.Do(func() {
		max := s.MaxVarsBytes
		if max <= 0 {
			max = DefaultMaxVarsBytes
		}
		s.srv = &oneshot.Server{
			Protocol:          oneshot.Protocol{Name: "uwsgi", Style: cgivars.StatusLine, ReadHead: readHead, Dechunk: true},
			Handler:           s.Handler,
			BaseContext:       s.BaseContext,
			Log:               s.Log,
			MaxConns:          s.MaxConns,
			MaxHeadBytes:      max,
			ReadHeaderTimeout: s.ReadHeaderTimeout,
			ReadTimeout:       s.ReadTimeout,
			WriteTimeout:      s.WriteTimeout,
		}
	})
	return s.srv
}

// Serve accepts connections on l and serves each in a goroutine of its own
// (one that served an earlier connection, when one waits for work). It
// returns http.ErrServerClosed after Shutdown or Close, or the listener's
// error; temporary accept errors (out of file descriptors) are retried.
func (s *Server) Serve(l net.Listener) error { return s.core().Serve(l) }

// Shutdown stops accepting (it closes the listeners), lets requests in
// flight finish, and returns when no connection is left. When ctx ends
// first, it closes the remaining connections and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error { return s.core().Shutdown(ctx) }

// Close closes the listeners and every connection at once.
func (s *Server) Close() error { return s.core().Close() }
