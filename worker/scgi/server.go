// Package scgi is an SCGI server (nascheme's protocol.txt): each connection
// carries one request, a netstring of CGI variables followed by
// CONTENT_LENGTH bytes of body, and gets one CGI-style response ("Status:
// 200 OK" and headers, then the body), after which the server closes it.
package scgi

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

// Server serves SCGI. Set its fields before the first call to Serve,
// Shutdown or Close; later changes have no effect.
//
// A request is handed to Handler as built by cgivars.NewRequest; its body
// is exactly CONTENT_LENGTH bytes, and its context ends when the peer closes
// the connection after sending the whole body (cause oneshot.ErrPeerGone),
// when a write fails, or when the handler returns.
//
// Bad input closes the connection and is logged once through Log with the
// peer and the reason: a malformed netstring (length empty, not digits, with
// a leading zero, over MaxVarsBytes; no comma; the stream ending early)
// just closes it; a well-formed netstring with bad contents (CONTENT_LENGTH
// missing, not first or not digits; SCGI missing or not "1"; a duplicate
// name; an empty name; no trailing NUL; more than MaxVars variables; no
// REQUEST_METHOD) is answered "Status: 400 Bad Request" first. A repeated
// HTTP_* variable other than HTTP_HOST is not refused but merged, because
// nginx before 1.23 sends one per repeated client header (see readHead). A body
// shorter than CONTENT_LENGTH makes the handler's read fail with
// io.ErrUnexpectedEOF; bytes after the body are ignored.
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
	MaxVarsBytes      int             // cap on the netstring length; 0 = DefaultMaxVarsBytes
	ReadHeaderTimeout time.Duration   // time to read the netstring, from accept; 0 = ReadTimeout
	ReadTimeout       time.Duration   // the whole request including body, from accept; 0 = none
	WriteTimeout      time.Duration   // handler and response, from the end of the netstring; 0 = none

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
			Protocol:          oneshot.Protocol{Name: "scgi", Style: cgivars.StatusHeader, ReadHead: readHead},
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
