// Package echo is the built-in diagnostic application: it answers every
// request with a small JSON document describing the request and the worker
// that served it. Tests and benchmarks use it.
package echo

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/arbiter-dev/arbiter/worker/info"
)

// Reply is the JSON document echo writes.
type Reply struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      string              `json:"query"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Headers    map[string][]string `json:"headers"`
	BodyLength int64               `json:"body_length"`
	Protocol   string              `json:"protocol"`
	Scheme     string              `json:"scheme"` // info.Scheme: the client's, after trusted proxies
	PID        int                 `json:"pid"`
	Worker     int                 `json:"worker"`
	Generation int                 `json:"generation"`
	// HTTPVersion is r.Proto ("HTTP/1.1", "HTTP/2.0"); TLS is whether
	// r.TLS is set (the request came over a TLS listener).
	HTTPVersion string `json:"http_version"`
	TLS         bool   `json:"tls"`
}

// Handler answers every request with a Reply. It reads the whole body to
// count it; a body that fails midway (the client went away) ends the request
// without a reply.
type Handler struct{}

// New returns the echo handler.
func New() http.Handler { return Handler{} }

func (Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	wk, _ := info.Self()
	if wk.PID == 0 {
		wk.PID = os.Getpid()
	}
	rep := Reply{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host,
		RemoteAddr: r.RemoteAddr, Headers: r.Header, BodyLength: n,
		Protocol: info.Protocol(r.Context()), Scheme: info.Scheme(r), PID: wk.PID, Worker: wk.ID, Generation: wk.Generation,
		HTTPVersion: r.Proto, TLS: r.TLS != nil,
	}
	body, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}
