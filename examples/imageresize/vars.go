package main

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/arbiter"
	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// caption is the text drawn on the image: a line naming the worker and the
// protocol, then the request's CGI variables as "NAME: value", sorted by
// name.
func caption(r *http.Request) []string {
	wk, _ := arbiter.Self()
	lines := []string{fmt.Sprintf("arbiter worker %d (pid %d, generation %d) over %s",
		wk.ID, wk.PID, wk.Generation, arbiter.Protocol(r))}
	vars := cgiVars(r)
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lines = append(lines, name+": "+vars[name])
	}
	return lines
}

// cgiVars returns the request's CGI variables. Over FastCGI, SCGI and uwsgi
// they are the ones the front end sent, as they were sent (nginx's
// fastcgi_params, scgi_params or uwsgi_params). Over HTTP there are none,
// so they are built from the request the way a CGI gateway mounted at "/"
// would (RFC 3875 §4.1, as arbiter's cgi app sets them):
//
//   - GATEWAY_INTERFACE "CGI/1.1", SERVER_SOFTWARE "arbiter",
//     SERVER_PROTOCOL (r.Proto), REQUEST_METHOD, QUERY_STRING (possibly
//     empty), REQUEST_URI, REQUEST_SCHEME ("http", or "https" with HTTPS=on);
//   - SCRIPT_NAME "" and PATH_INFO the request path;
//   - SERVER_NAME from the Host header without its port, SERVER_ADDR and
//     SERVER_PORT from the socket the request came in on;
//   - REMOTE_ADDR and REMOTE_PORT from the client's address, and
//     REMOTE_HOST the same address (no DNS lookup);
//   - CONTENT_TYPE and CONTENT_LENGTH when the request has a body (no
//     CONTENT_LENGTH for a chunked one);
//   - HTTP_NAME for every other header (X-Foo → HTTP_X_FOO, repeated ones
//     joined with ", "), except Authorization and Proxy-Authorization, and
//     except headers whose names hold anything but letters, digits and "-".
func cgiVars(r *http.Request) map[string]string {
	if env := cgivars.Env(r); env != nil {
		return env
	}
	v := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE":   "arbiter",
		"SERVER_PROTOCOL":   r.Proto,
		"REQUEST_METHOD":    r.Method,
		"QUERY_STRING":      r.URL.RawQuery,
		"REQUEST_URI":       r.RequestURI,
		"REQUEST_SCHEME":    "http",
		"SCRIPT_NAME":       "",
		"PATH_INFO":         r.URL.Path,
	}
	if r.TLS != nil {
		v["HTTPS"] = "on"
		v["REQUEST_SCHEME"] = "https"
	}
	if host, _, err := net.SplitHostPort(r.Host); err == nil {
		v["SERVER_NAME"] = host
	} else {
		v["SERVER_NAME"] = r.Host
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if host, port, err := net.SplitHostPort(la.String()); err == nil {
			v["SERVER_ADDR"], v["SERVER_PORT"] = host, port
			if v["SERVER_NAME"] == "" {
				v["SERVER_NAME"] = host
			}
		}
	}
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		v["REMOTE_ADDR"], v["REMOTE_PORT"], v["REMOTE_HOST"] = host, port, host
	}
	if r.ContentLength > 0 || r.Header.Get("Content-Type") != "" {
		v["CONTENT_TYPE"] = r.Header.Get("Content-Type")
	}
	if r.ContentLength > 0 {
		v["CONTENT_LENGTH"] = strconv.FormatInt(r.ContentLength, 10)
	}
	for name, values := range r.Header {
		switch name {
		case "Content-Type", "Content-Length", "Authorization", "Proxy-Authorization":
			continue
		}
		if !headerName(name) {
			continue
		}
		v["HTTP_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = strings.Join(values, ", ")
	}
	if r.Host != "" {
		v["HTTP_HOST"] = r.Host // net/http moves Host out of r.Header
	}
	return v
}

// headerName reports whether a header name is letters, digits and "-" only,
// so that X_Foo cannot pose as X-Foo once both become HTTP_X_FOO.
func headerName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
