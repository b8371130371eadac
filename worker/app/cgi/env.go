package cgi

import (
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
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

	https := r.TLS != nil
	if https {
		def("HTTPS", "on")
		def("REQUEST_SCHEME", "https")
	} else {
		def("REQUEST_SCHEME", "http")
	}
	name, port, addr := serverAddr(r, https)
	def("SERVER_NAME", name)
	def("SERVER_PORT", port)
	if addr != "" {
		def("SERVER_ADDR", addr)
	}
	raddr, rport := splitAddr(r.RemoteAddr)
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

// headerVars adds an HTTP_* variable for each request header, as RFC 3875
// §4.1.18 says: the name upper-cased with "-" mapped to "_", repeated
// headers joined with ", " ("; " for Cookie). A header whose name has
// anything but letters, digits and "-" is dropped, so that "X_Foo" cannot
// pose as "X-Foo" (Apache's rule). Also dropped: Proxy (httpoxy),
// Proxy-Authorization, Authorization unless PassAuthorization, and
// Content-Length, Content-Type and Transfer-Encoding, which CONTENT_LENGTH
// and CONTENT_TYPE replace. HTTP_HOST is the request's Host.
func (h *Handler) headerVars(m map[string]string, r *http.Request) {
	if r.Host != "" && !strings.ContainsAny(r.Host, "\x00") {
		m["HTTP_HOST"] = r.Host
	}
	for k, vv := range r.Header {
		if len(vv) == 0 || !envHeaderName(k) {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		if name == "HOST" || !h.passHeader(name) {
			continue
		}
		sep := ", "
		if name == "COOKIE" {
			sep = "; "
		}
		v := strings.Join(vv, sep)
		if strings.IndexByte(v, 0) >= 0 {
			continue
		}
		m["HTTP_"+name] = v
	}
}

// passHeader reports whether the header whose variable name (without
// HTTP_) is name may reach a script.
func (h *Handler) passHeader(name string) bool {
	switch name {
	case "PROXY", "PROXY_AUTHORIZATION", "CONTENT_LENGTH", "CONTENT_TYPE", "TRANSFER_ENCODING":
		return false
	case "AUTHORIZATION":
		return h.passAuth
	}
	return true
}

// envHeaderName reports whether a header name may become a variable:
// letters, digits and "-" only.
func envHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// serverAddr returns SERVER_NAME, SERVER_PORT and SERVER_ADDR: the name from
// Host (without its port; an IPv6 address in brackets), else the local
// address; the port the connection came in on, else Host's, else the
// scheme's default; and the local IP address, "" on a unix socket.
func serverAddr(r *http.Request, https bool) (name, port, addr string) {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la != nil {
		if a, p, err := net.SplitHostPort(la.String()); err == nil {
			addr, port = a, p
		}
	}
	host, hport := r.Host, ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, hport = h, p
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		host = addr
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		port = hport
	}
	if port == "" {
		port = "80"
		if https {
			port = "443"
		}
	}
	return host, port, addr
}

// splitAddr splits "ip:port"; anything else (a unix socket peer, "@") is
// returned whole, without a port.
func splitAddr(a string) (host, port string) {
	if h, p, err := net.SplitHostPort(a); err == nil {
		return h, p
	}
	return a, ""
}
