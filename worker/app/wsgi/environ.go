package wsgi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// errNULInPath: PATH_INFO cannot carry a NUL (a decoded %00): it would end
// the variable in the environ block, and no app expects one.
var errNULInPath = errors.New("the request path has a NUL byte (%00)")

// Front-end variables the WSGI app computes itself: a front end's
// SCRIPT_NAME and PATH_INFO describe its own split of the path (nginx's
// fastcgi_params sends the whole path as SCRIPT_NAME), and CONTENT_LENGTH is
// the length of the body the app gets.
var recomputed = map[string]bool{
	"SCRIPT_NAME": true, "PATH_INFO": true, "PATH_TRANSLATED": true, "CONTENT_LENGTH": true,
	"wsgi.url_scheme": true,
}

// keepFrontVar reports whether a front end's variable goes into the environ
// as it came: not one the app computes itself (recomputed), not an HTTP_*
// one DroppedHeaderVar names, and no NUL in its name or value.
func keepFrontVar(k, v string) bool {
	if k == "" || recomputed[k] || strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
		return false
	}
	hk, ok := strings.CutPrefix(k, "HTTP_")
	return !ok || !cgivars.DroppedHeaderVar(hk)
}

// env is the environ block of a request: "name NUL value NUL" for each
// variable, decoded by the runner as latin-1, which gives every byte of a
// header or a path its own character, as PEP 3333 wants for native strings.
type env struct{ b []byte }

// add appends a variable; one whose name or value has a NUL is left out:
// it would shift every pair after it, and a value could carry variables of
// its own ("x NUL REMOTE_USER NUL admin").
func (e *env) add(k, v string) {
	if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
		return
	}
	e.b = append(e.b, k...)
	e.b = append(e.b, 0)
	e.b = append(e.b, v...)
	e.b = append(e.b, 0)
}

// environ appends r's variables to e:
//
//   - REQUEST_METHOD, QUERY_STRING (raw), SERVER_PROTOCOL, REQUEST_URI and
//     RAW_URI (the request target as sent), GATEWAY_INTERFACE, SERVER_SOFTWARE;
//   - SCRIPT_NAME, the mount path ("" at the root), and PATH_INFO, the decoded
//     path after it;
//   - CONTENT_TYPE when the request has one, CONTENT_LENGTH when it has a body
//     (bodyLen, after any transfer coding was removed);
//   - SERVER_NAME, SERVER_PORT, REMOTE_ADDR, REMOTE_PORT (TCP only),
//     REMOTE_HOST (the address: no DNS lookups);
//   - HTTP_* for each header (cgivars.EachHeaderVar; Authorization included,
//     Proxy, Proxy-Authorization and the CONTENT_* ones not);
//   - HTTPS=on and wsgi.url_scheme "https" when the request came over TLS,
//     a trusted proxy said https (info.Scheme) or the front end said HTTPS
//     or REQUEST_SCHEME=https, else "http".
//
// Over FastCGI, SCGI and uwsgi the front end's variables come first, as they
// came (REMOTE_USER, DOCUMENT_ROOT, custom fastcgi_param / uwsgi_param ones),
// less HTTP_* ones DroppedHeaderVar names and those in recomputed; the
// request's own values fill what the front end left out. A variable with a
// NUL in its name or value is left out (a path with one is errNULInPath).
func (h *Handler) environ(e *env, r *http.Request, bodyLen int64) error {
	path := r.URL.Path
	if strings.IndexByte(path, 0) >= 0 {
		return errNULInPath
	}
	pathInfo := path
	if h.scriptName != "" {
		pathInfo = strings.TrimPrefix(path, h.scriptName)
	}
	front := cgivars.Env(r)
	https := info.Scheme(r) == "https" || front != nil && (strings.EqualFold(front["HTTPS"], "on") || strings.EqualFold(front["REQUEST_SCHEME"], "https"))
	scheme := "http"
	if https {
		scheme = "https"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	name, port, _ := cgivars.ServerAddr(r, https)
	raddr, rport := cgivars.SplitAddr(r.RemoteAddr)

	if front == nil {
		e.add("REQUEST_METHOD", r.Method)
		e.add("SCRIPT_NAME", h.scriptName)
		e.add("PATH_INFO", pathInfo)
		e.add("QUERY_STRING", r.URL.RawQuery)
		e.add("SERVER_PROTOCOL", r.Proto)
		e.add("REQUEST_URI", uri)
		e.add("RAW_URI", uri)
		e.add("GATEWAY_INTERFACE", "CGI/1.1")
		e.add("SERVER_SOFTWARE", software)
		e.add("SERVER_NAME", name)
		e.add("SERVER_PORT", port)
		e.add("REMOTE_ADDR", raddr)
		e.add("REMOTE_HOST", raddr)
		if rport != "" {
			e.add("REMOTE_PORT", rport)
		}
		if ct := r.Header["Content-Type"]; len(ct) > 0 {
			e.add("CONTENT_TYPE", ct[0])
		}
		if https {
			e.add("HTTPS", "on")
		}
		cgivars.EachHeaderVar(r, func(k, v string) {
			if !cgivars.DroppedHeaderVar(k) {
				e.add("HTTP_"+k, v)
			}
		})
	} else {
		// No map of its own: the front end's variables go in as they are,
		// then the request's values for those it left out (or that were
		// not kept).
		for k, v := range front {
			if keepFrontVar(k, v) {
				e.add(k, v)
			}
		}
		def := func(k, v string) string {
			if fv, ok := front[k]; ok && keepFrontVar(k, fv) {
				return fv
			}
			e.add(k, v)
			return v
		}
		e.add("SCRIPT_NAME", h.scriptName)
		e.add("PATH_INFO", pathInfo)
		def("REQUEST_METHOD", r.Method)
		def("QUERY_STRING", r.URL.RawQuery)
		def("SERVER_PROTOCOL", r.Proto)
		def("RAW_URI", def("REQUEST_URI", uri))
		def("GATEWAY_INTERFACE", "CGI/1.1")
		def("SERVER_SOFTWARE", software)
		def("SERVER_NAME", name)
		def("SERVER_PORT", port)
		def("REMOTE_HOST", def("REMOTE_ADDR", raddr))
		if rport != "" {
			def("REMOTE_PORT", rport)
		}
		if ct := r.Header["Content-Type"]; len(ct) > 0 {
			def("CONTENT_TYPE", ct[0])
		}
		if https {
			def("HTTPS", "on")
		}
	}
	if bodyLen > 0 || bodyLen == 0 && r.Header["Content-Length"] != nil {
		e.add("CONTENT_LENGTH", strconv.FormatInt(bodyLen, 10))
	}
	e.add("wsgi.url_scheme", scheme)
	return nil
}
