package worker

import (
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/arbiter-dev/arbiter/ipc"
)

// router sends a request to the [[mount]] whose path is the request's path
// or a prefix of it at a "/" boundary, the longest first, and everything
// else to the fallback ([app]).
type router struct {
	mounts   []mounted // longest path first
	fallback http.Handler
}

type mounted struct {
	path string
	h    http.Handler
}

func (rt *router) add(path string, h http.Handler) {
	rt.mounts = append(rt.mounts, mounted{path, h})
	sort.SliceStable(rt.mounts, func(i, j int) bool { return len(rt.mounts[i].path) > len(rt.mounts[j].path) })
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	for _, m := range rt.mounts {
		if p == m.path || strings.HasPrefix(p, m.path) && p[len(m.path)] == '/' {
			m.h.ServeHTTP(w, r)
			return
		}
	}
	rt.fallback.ServeHTTP(w, r)
}

// Close closes every app that holds resources (cgi: running scripts).
func (rt *router) Close() error {
	var errs []error
	for _, h := range append([]http.Handler{rt.fallback}, handlersOf(rt.mounts)...) {
		if c, ok := h.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// AppProcesses lists the app processes of every app that has some (WSGI).
func (rt *router) AppProcesses() []ipc.AppProcess {
	var out []ipc.AppProcess
	for _, h := range append([]http.Handler{rt.fallback}, handlersOf(rt.mounts)...) {
		if a, ok := h.(appProcesses); ok {
			out = append(out, a.AppProcesses()...)
		}
	}
	return out
}

func handlersOf(ms []mounted) []http.Handler {
	out := make([]http.Handler, len(ms))
	for i, m := range ms {
		out[i] = m.h
	}
	return out
}
