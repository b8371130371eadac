package http1

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// head is a parsed request head that the fast path serves: one net/http
// would take as it is, with nothing of net/http's own to do for it
// (100-continue, chunked bodies, upgrades, error responses).
type head struct {
	method, target, proto string
	minor                 int // 0 or 1: HTTP/1.0 or HTTP/1.1
	url                   *url.URL
	host                  string
	header                http.Header
	contentLength         int64
	close                 bool // the client ends the connection after this request
}

// parseHead parses block, a request head up to and including the empty line
// that ends it. ok is false for any head the fast path leaves to net/http,
// which then answers it as it always has, error responses included:
//
//   - a request line that is not "TOKEN /origin-form HTTP/1.x" with single
//     spaces, or a CONNECT or PRI method (the HTTP/2 preface);
//   - a line that does not end in CRLF, an obs-fold continuation line, a
//     field name that is not a token, a value with a control character;
//   - Transfer-Encoding, Expect, Upgrade (net/http's own handling), more than
//     one Content-Length or Host, a Content-Length that is not digits, an
//     HTTP/1.1 request without Host, a Host with bytes outside the
//     conservative set of reg-name, IP literal and port characters.
//
// Field values are trimmed of spaces and tabs, names canonicalized, Host is
// taken out of the map into host, and Pragma: no-cache adds Cache-Control:
// no-cache where there is none, all as net/http does.
func parseHead(block string) (h head, ok bool) {
	eol := strings.Index(block, "\r\n")
	if eol < 0 || !parseRequestLine(block[:eol], &h) {
		return h, false
	}
	fields := block[eol+2:]
	n := max(strings.Count(fields, "\n")-1, 0) // lines less the empty one
	h.header = make(http.Header, n)
	values := make([]string, n) // one backing array for single values, as textproto does
	hosts, lengths := 0, 0
	for {
		eol = strings.Index(fields, "\r\n")
		if eol < 0 {
			return h, false
		}
		line := fields[:eol]
		fields = fields[eol+2:]
		if line == "" {
			break
		}
		name, value, ok := parseField(line)
		if !ok {
			return h, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			if hosts++; hosts > 1 || !validHost(value) {
				return h, false
			}
			h.host = value
			continue
		case "Content-Length":
			if lengths++; lengths > 1 {
				return h, false
			}
			if h.contentLength, ok = cgivars.ParseDigits(value); !ok {
				return h, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade":
			return h, false
		}
		if vv := h.header[key]; vv != nil {
			h.header[key] = append(vv, value)
		} else if len(values) > 0 {
			values[0] = value
			h.header[key] = values[:1:1]
			values = values[1:]
		} else {
			h.header[key] = []string{value}
		}
	}
	if fields != "" || h.minor == 1 && hosts == 0 {
		return h, false
	}
	connection := h.header["Connection"]
	h.close = cgivars.HasToken(connection, "close") ||
		h.minor == 0 && !cgivars.HasToken(connection, "keep-alive")
	if p := h.header["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h.header["Cache-Control"] == nil {
		h.header["Cache-Control"] = []string{"no-cache"}
	}
	return h, true
}

// parseRequestLine parses "METHOD TARGET PROTO" into h, and reports
// whether it is a request line the fast path serves.
func parseRequestLine(line string, h *head) bool {
	var rest string
	var ok bool
	h.method, rest, ok = strings.Cut(line, " ")
	if !ok {
		return false
	}
	h.target, h.proto, ok = strings.Cut(rest, " ")
	if !ok || !cgivars.IsToken(h.method) || h.method == "CONNECT" || h.method == "PRI" {
		return false
	}
	switch h.proto {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
		h.minor = 0
	default:
		return false
	}
	if !validTarget(h.target) {
		return false
	}
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return false
	}
	h.url = u
	return true
}

// parseField splits a field line into its name and its value trimmed of
// spaces and tabs; ok is false when the name is not a token (an obs-fold
// line, which starts with a space, among them) or the value has a control
// character.
func parseField(line string) (name, value string, ok bool) {
	name, value, found := strings.Cut(line, ":")
	if !found || !cgivars.IsToken(name) {
		return "", "", false
	}
	value = strings.Trim(value, " \t")
	return name, value, cgivars.IsFieldValue(value)
}

// linesValid reports whether the complete lines at the front of an
// incomplete head are all ones parseHead takes, and no line ends in a bare
// LF: net/http would answer such a head as soon as the line is in, so the
// fast path must not wait for the rest of it.
func linesValid(buf []byte) bool {
	for i, c := range buf {
		if c == '\n' && (i == 0 || buf[i-1] != '\r') {
			return false
		}
	}
	for first := true; ; first = false {
		i := bytes.Index(buf, []byte("\r\n"))
		if i < 0 {
			return true
		}
		line := string(buf[:i])
		buf = buf[i+2:]
		if line == "" && !first {
			return true // the end of the head
		}
		if first {
			var h head
			if !parseRequestLine(line, &h) {
				return false
			}
		} else if _, _, ok := parseField(line); !ok {
			return false
		}
	}
}

// validTarget accepts an origin-form request target: a path, a query,
// printable ASCII only.
func validTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts a Host made of reg-name, IPv6 literal and port
// characters, a subset of what net/http accepts; the rest is net/http's.
func validHost(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(".-_~:[]", c) >= 0:
		default:
			return false
		}
	}
	return true
}
