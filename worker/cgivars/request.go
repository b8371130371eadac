// Package cgivars is the CGI request/response layer shared by the FastCGI,
// SCGI and uwsgi servers: it turns the CGI meta-variables a front end sends
// (RFC 3875 §4.1 plus the common extensions REQUEST_URI, HTTPS, REMOTE_PORT)
// into a server-side *http.Request, and writes a handler's response back in
// CGI form, with either a "Status:" header or a full HTTP status line.
//
// The package does no I/O of its own beyond writing to the io.Writer it is
// given; framing (records, netstrings, connection close) is the caller's.
package cgivars

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrBadRequest is wrapped by every error NewRequest returns: the variables
// do not describe a request a handler can be given. A server that can still
// answer should answer 400.
var ErrBadRequest = errors.New("bad CGI request")

type envKey struct{}

// Env returns the CGI variables r was built from by NewRequest, or nil if r
// was not built by NewRequest. The map is shared, not copied: treat it as
// read-only. It lets a CGI application pass the front end's variables on
// faithfully (PATH_INFO, SCRIPT_NAME, DOCUMENT_ROOT, …) instead of rebuilding
// them from the request.
func Env(r *http.Request) map[string]string {
	env, _ := r.Context().Value(envKey{}).(map[string]string)
	return env
}

// WithEnv returns ctx with env as the front end's variables that Env
// returns, for a layer that corrects them after NewRequest (the worker's
// trusted-proxy handling sets REMOTE_ADDR and HTTPS in a copy).
func WithEnv(ctx context.Context, env map[string]string) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// NewRequest builds a server-side *http.Request from the CGI meta-variables a
// front end sent (SCGI/uwsgi vars, FastCGI params). ctx ends when the peer
// goes away; body is the request body stream.
//
// NewRequest keeps env (see Env); the caller must not modify it afterwards.
// It does not limit body to CONTENT_LENGTH: body must end where the request
// body ends. When CONTENT_LENGTH is "0" the request gets http.NoBody and body
// is not read; when it is empty, absent or "-1", ContentLength is -1 and the
// handler reads body to its end. A nil body is taken as an empty one.
//
// The request is built the way net/http's server and net/http/cgi build one:
//   - Method from REQUEST_METHOD (required, an HTTP token).
//   - RequestURI from REQUEST_URI, else the escaped SCRIPT_NAME+PATH_INFO
//     plus "?"+QUERY_STRING when that is not empty; URL parsed from it, with
//     URL.Scheme ("https" when HTTPS is on, else "http") and URL.Host set from
//     Host when Host is known, as net/http/cgi does.
//   - Proto from SERVER_PROTOCOL (HTTP/1.0 when absent).
//   - Host from HTTP_HOST, else SERVER_NAME with ":"+SERVER_PORT unless the
//     port is empty or the scheme's default.
//   - Header from every HTTP_* variable (HTTP_FOO_BAR → Foo-Bar), except
//     HTTP_HOST, HTTP_CONTENT_LENGTH, HTTP_CONTENT_TYPE (the CONTENT_*
//     variables are authoritative) and HTTP_TRANSFER_ENCODING (the front end
//     has already removed the transfer coding; when the body is streamed and
//     the client sent it chunked, TransferEncoding is ["chunked"], as
//     net/http sets it). A variable whose mapped name is not an HTTP token is
//     skipped; a value with CR, LF or NUL is an error.
//   - Content-Type and Content-Length headers from CONTENT_TYPE and
//     CONTENT_LENGTH; a CONTENT_LENGTH other than digits or "-1" is an error.
//   - RemoteAddr "REMOTE_ADDR:REMOTE_PORT" (IPv6 in brackets, port 0 when
//     REMOTE_PORT is absent or not a port number); a REMOTE_ADDR that is not
//     an IP address ("unix:") is kept as it is.
//   - TLS non-nil (HandshakeComplete) when HTTPS is "on" or "1", in any case.
//
// Every error wraps ErrBadRequest.
func NewRequest(ctx context.Context, env map[string]string, body io.Reader) (*http.Request, error) {
	method := env["REQUEST_METHOD"]
	if method == "" {
		return nil, fmt.Errorf("%w: no REQUEST_METHOD", ErrBadRequest)
	}
	if !IsToken(method) {
		return nil, fmt.Errorf("%w: invalid REQUEST_METHOD %q", ErrBadRequest, method)
	}
	r := &http.Request{Method: method, Header: make(http.Header, len(env)/2)}

	r.Proto = env["SERVER_PROTOCOL"]
	if r.Proto == "" {
		r.Proto = "HTTP/1.0"
	}
	var ok bool
	if r.ProtoMajor, r.ProtoMinor, ok = parseProto(r.Proto); !ok {
		return nil, fmt.Errorf("%w: invalid SERVER_PROTOCOL %q", ErrBadRequest, r.Proto)
	}

	if isOn(env["HTTPS"]) {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true}
	}

	clen, err := parseContentLength(env["CONTENT_LENGTH"])
	if err != nil {
		return nil, err
	}
	r.ContentLength = clen
	if clen >= 0 && env["CONTENT_LENGTH"] != "" {
		r.Header["Content-Length"] = []string{env["CONTENT_LENGTH"]}
	}
	if ct, ok := env["CONTENT_TYPE"]; ok && ct != "" {
		if !validValue(ct) {
			return nil, fmt.Errorf("%w: invalid CONTENT_TYPE", ErrBadRequest)
		}
		r.Header["Content-Type"] = []string{ct}
	}

	for k, v := range env {
		name, ok := strings.CutPrefix(k, "HTTP_")
		if !ok {
			continue
		}
		switch name {
		case "HOST", "CONTENT_LENGTH", "CONTENT_TYPE":
			continue
		case "TRANSFER_ENCODING":
			if clen < 0 && strings.EqualFold(strings.TrimSpace(v), "chunked") {
				r.TransferEncoding = []string{"chunked"}
			}
			continue
		}
		key, ok := headerName(name)
		if !ok {
			continue
		}
		if !validValue(v) {
			return nil, fmt.Errorf("%w: invalid value in %s", ErrBadRequest, k)
		}
		r.Header[key] = append(r.Header[key], v)
	}

	r.Host = env["HTTP_HOST"]
	if r.Host == "" {
		r.Host = hostFromServer(env["SERVER_NAME"], env["SERVER_PORT"], r.TLS != nil)
	}
	if !validValue(r.Host) {
		return nil, fmt.Errorf("%w: invalid HTTP_HOST", ErrBadRequest)
	}

	if err := setURL(r, env); err != nil {
		return nil, err
	}
	r.RemoteAddr = remoteAddr(env["REMOTE_ADDR"], env["REMOTE_PORT"])

	switch {
	case clen == 0 || body == nil:
		r.Body = http.NoBody
	default:
		rc, ok := body.(io.ReadCloser)
		if !ok {
			rc = io.NopCloser(body)
		}
		r.Body = rc
	}
	return r.WithContext(WithEnv(ctx, env)), nil
}

// setURL sets RequestURI and URL.
func setURL(r *http.Request, env map[string]string) error {
	uri, ok := env["REQUEST_URI"]
	if !ok || uri == "" {
		p := env["SCRIPT_NAME"] + env["PATH_INFO"]
		if p == "" {
			p = "/"
		}
		uri = (&url.URL{Path: p}).EscapedPath()
		if q := env["QUERY_STRING"]; q != "" {
			uri += "?" + q
		}
	}
	r.RequestURI = uri
	var (
		u   *url.URL
		err error
	)
	if r.Method == http.MethodConnect && !strings.HasPrefix(uri, "/") {
		// CONNECT host:port, the authority form (RFC 9112 §3.2.3).
		u, err = url.ParseRequestURI("http://" + uri)
		if err == nil {
			u.Scheme = ""
		}
	} else {
		u, err = url.ParseRequestURI(uri)
	}
	if err != nil {
		return fmt.Errorf("%w: invalid request URI %q", ErrBadRequest, uri)
	}
	if u.Host == "" && r.Host != "" {
		u.Host = r.Host
		if u.Scheme == "" {
			u.Scheme = "http"
			if r.TLS != nil {
				u.Scheme = "https"
			}
		}
	}
	r.URL = u
	return nil
}

// parseContentLength returns -1 for "", "-1" (the body is streamed) and the
// value for a run of decimal digits.
func parseContentLength(s string) (int64, error) {
	if s == "" || s == "-1" {
		return -1, nil
	}
	n, ok := ParseDigits(s)
	if !ok {
		return 0, fmt.Errorf("%w: invalid CONTENT_LENGTH %q", ErrBadRequest, s)
	}
	return n, nil
}

// ParseDigits parses a non-empty run of ASCII decimal digits (no sign, no
// spaces) as a non-negative int64; ok is false for anything else, including
// a value that overflows. Leading zeros are allowed.
func ParseDigits(s string) (n int64, ok bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseProto accepts HTTP/M.N with single digits, and the HTTP/2 and HTTP/3
// spellings some front ends use for their client's protocol.
func parseProto(p string) (major, minor int, ok bool) {
	switch p {
	case "HTTP/2":
		return 2, 0, true
	case "HTTP/3":
		return 3, 0, true
	}
	major, minor, ok = http.ParseHTTPVersion(p)
	return major, minor, ok && major >= 1
}

func isOn(s string) bool { return strings.EqualFold(s, "on") || s == "1" }

func hostFromServer(name, port string, https bool) string {
	if name == "" {
		return ""
	}
	if strings.Contains(name, ":") && !strings.HasPrefix(name, "[") {
		name = "[" + name + "]"
	}
	if port == "" || (!https && port == "80") || (https && port == "443") {
		return name
	}
	return name + ":" + port
}

func remoteAddr(addr, port string) string {
	if addr == "" {
		return ""
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		p = 0
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(p, 10))
}

// headerName maps the part of an HTTP_* variable after the prefix to a
// canonical header name ("X_FORWARDED_FOR" → "X-Forwarded-For"). ok is false
// when the result would not be an HTTP token.
func headerName(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	b := make([]byte, len(s))
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			c = '-'
		case !isTokenByte(c):
			return "", false
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return string(b), true
}

// validValue reports whether s can be a header value without allowing
// response splitting or smuggling: no CR, LF or NUL.
func validValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// IsFieldValue reports whether v is a field value net/http would send or
// accept: no control character other than tab (no CR, LF, NUL or DEL).
func IsFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// IsToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the form of
// a method or a header field name.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
