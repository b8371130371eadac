// Package info tells application code which worker it runs in and which
// protocol a request came in on. It has no dependencies so that any
// application package can import it.
package info

import (
	"context"
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
