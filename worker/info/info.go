// Package info tells application code which worker it runs in, which
// protocol a request came in on and which scheme its client used. It has
// no dependencies beyond the standard library, so that any application
// package can import it.
package info

import (
	"context"
	"net/http"
	"sync/atomic"
)

// Worker identifies the running worker process.
type Worker struct {
	ID         int // unique for the master's lifetime, starting at 1
	Generation int // the master's config generation; HUP increments it
	PID        int
}

var self atomic.Pointer[Worker]

// Set records the worker's identity; the worker runtime calls it once at boot.
func Set(w Worker) { self.Store(&w) }

// Self returns the worker's identity, and false outside a worker (in the
// master, in a test, or before boot).
func Self() (Worker, bool) {
	if w := self.Load(); w != nil {
		return *w, true
	}
	return Worker{}, false
}

type protocolKey struct{}

// WithProtocol returns ctx tagged with the listener protocol ("http",
// "fastcgi", "scgi", "uwsgi").
func WithProtocol(ctx context.Context, proto string) context.Context {
	return context.WithValue(ctx, protocolKey{}, proto)
}

// Protocol returns the protocol ctx was tagged with, or "".
func Protocol(ctx context.Context) string {
	p, _ := ctx.Value(protocolKey{}).(string)
	return p
}

type schemeKey struct{}

// WithScheme returns ctx tagged with the scheme ("http" or "https") a
// trusted proxy said the client used (forwarded_allow_ips).
func WithScheme(ctx context.Context, scheme string) context.Context {
	return context.WithValue(ctx, schemeKey{}, scheme)
}

// Scheme returns the scheme the client used for r: the one a trusted proxy
// reported, when one did; else "https" when r came over TLS (or a
// FastCGI, SCGI or uwsgi front end said HTTPS=on); else "http".
func Scheme(r *http.Request) string {
	if s, ok := r.Context().Value(schemeKey{}).(string); ok && s != "" {
		return s
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
