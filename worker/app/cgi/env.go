package cgi

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// Front-end variables that describe the request line or the script. A
// redirected call drops them: they describe the original request.
var perRequestVars = map[string]bool{
	"REQUEST_METHOD": true, "REQUEST_URI": true, "QUERY_STRING": true, "DOCUMENT_URI": true,
	"SCRIPT_NAME": true, "PATH_INFO": true, "PATH_TRANSLATED": true, "SCRIPT_FILENAME": true,
	"CONTENT_TYPE": true, "CONTENT_LENGTH": true,
}

// envMaps hold the maps env builds an environment in.
var envMaps = sync.Pool{New: func() any { return make(map[string]string, 48) }}

// env builds a script's environment: the PassEnv variables, then the
// meta-variables. bodyLen is the length of the body the script gets on
// stdin, -1 for none.
//
// Over HTTP (and for a redirected call) the variables are built from the
// request: every RFC 3875 §4.1 variable that applies (AUTH_TYPE, REMOTE_USER
// and REMOTE_IDENT never, since arbiter authenticates nobody), REQUEST_URI,
// SCRIPT_FILENAME, DOCUMENT_ROOT, HTTPS ("on", only when it is),
// REQUEST_SCHEME, REMOTE_PORT, SERVER_ADDR and REMOTE_HOST (the address: no
// DNS lookups), and an HTTP_* variable for each header (see headerVars).
//
// Over FastCGI, SCGI and uwsgi the front end's variables are passed on as
// they came, less HTTP_PROXY, HTTP_PROXY_AUTHORIZATION, HTTP_AUTHORIZATION
// (unless PassAuthorization), HTTP_CONTENT_LENGTH, HTTP_CONTENT_TYPE and
// HTTP_TRANSFER_ENCODING, and less any name with "=" or NUL or value with
// NUL (exec cannot pass them). SCRIPT_FILENAME is always the file run;
// SCRIPT_NAME, PATH_INFO and PATH_TRANSLATED are replaced when arbiter split
// the path itself; CONTENT_LENGTH is always the length of the body the
// script gets; other variables the front end left out are filled in from
// the request.
func (h *Handler) env(c *call, t *target, bodyLen int64) []string {
	r := c.r
	m := envMaps.Get().(map[string]string)
	defer func() {
		clear(m)
		envMaps.Put(m)
	}()
	for _, kv := range h.baseEnv {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	if c.front != nil {
		for k, v := range c.front {
			if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
				continue
			}
			if c.redirects > 0 && perRequestVars[k] {
				continue
			}
			if name, ok := strings.CutPrefix(k, "HTTP_"); ok && !h.passHeader(name) {
				continue
			}
			m[k] = v
		}
	} else {
		h.headerVars(m, r)
	}
	def := func(k, v string) {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}

	def("GATEWAY_INTERFACE", "CGI/1.1")
	def("SERVER_SOFTWARE", h.software)
	def("SERVER_PROTOCOL", r.Proto)
	def("REQUEST_METHOD", r.Method)
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	def("REQUEST_URI", uri)
	def("QUERY_STRING", r.URL.RawQuery)

	m["SCRIPT_FILENAME"] = t.filename
	if !t.keepFront {
		m["SCRIPT_NAME"] = t.scriptName
		m["PATH_INFO"] = t.pathInfo
		delete(m, "PATH_TRANSLATED")
		if t.pathInfo != "" {
			m["PATH_TRANSLATED"] = t.docRoot + t.pathInfo
		}
	} else {
		def("SCRIPT_NAME", t.scriptName)
	}
	def("DOCUMENT_ROOT", t.docRoot)

	https := info.Scheme(r) == "https"
	if https {
		def("HTTPS", "on")
		def("REQUEST_SCHEME", "https")
	} else {
		def("REQUEST_SCHEME", "http")
	}
	name, port, addr := cgivars.ServerAddr(r, https)
	def("SERVER_NAME", name)
	def("SERVER_PORT", port)
	if addr != "" {
		def("SERVER_ADDR", addr)
	}
	raddr, rport := cgivars.SplitAddr(r.RemoteAddr)
	def("REMOTE_ADDR", raddr)
	if rport != "" {
		def("REMOTE_PORT", rport)
	}
	def("REMOTE_HOST", m["REMOTE_ADDR"])

	delete(m, "CONTENT_LENGTH")
	if bodyLen >= 0 {
		m["CONTENT_LENGTH"] = strconv.FormatInt(bodyLen, 10)
	}
	if c.redirects > 0 {
		m["REDIRECT_STATUS"] = "200"
		m["REDIRECT_URL"] = c.origURI
	} else if ct := r.Header.Get("Content-Type"); ct != "" && strings.IndexByte(ct, 0) < 0 {
		def("CONTENT_TYPE", ct)
	}

	out := make([]string, 0, len(m))
	for k, v := range m {
		if strings.IndexByte(v, 0) < 0 { // exec cannot pass a NUL; the variable is left out
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// headerVars adds an HTTP_* variable for each request header
// (cgivars.EachHeaderVar), less Proxy, Proxy-Authorization, Content-Length,
// Content-Type and Transfer-Encoding (cgivars.DroppedHeaderVar), and
// Authorization unless PassAuthorization.
func (h *Handler) headerVars(m map[string]string, r *http.Request) {
	cgivars.EachHeaderVar(r, func(name, v string) {
		if h.passHeader(name) {
			m["HTTP_"+name] = v
		}
	})
}

// passHeader reports whether the header whose variable name (without
// HTTP_) is name may reach a script.
func (h *Handler) passHeader(name string) bool {
	if name == "AUTHORIZATION" {
		return h.passAuth
	}
	return !cgivars.DroppedHeaderVar(name)
}
