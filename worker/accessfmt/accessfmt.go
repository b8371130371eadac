// Package accessfmt formats access log lines from gunicorn-style formats
// (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s`) and the presets common,
// combined and json.
//
// A format is compiled once into a slice of appenders; formatting a request
// appends to a caller's buffer and allocates nothing (except %(u)s, which
// decodes the Authorization header). Unlike gunicorn, which writes values
// as they are, values that come from the client (the request line, the
// path, the query, headers, the user) are escaped in text formats: `"` and
// `\` get a backslash, control bytes and DEL become \xHH, so a header cannot
// forge a line or a field. Bytes from 0x80 up are written as they are. The
// json preset escapes as JSON does and replaces invalid UTF-8 with U+FFFD.
package accessfmt

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Presets.
const (
	Common   = `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s`
	Combined = Common + ` "%(f)s" "%(a)s"`
	// JSON is the name of the json preset: one object per line.
	JSON = "json"
)

// Entry is what is known about one request when its line is written.
type Entry struct {
	Req        *http.Request
	RespHeader http.Header
	Status     int
	Bytes      int64         // body bytes written
	Time       time.Time     // when the response ended: %(t)s
	Duration   time.Duration // from the handler's start to its end
	Worker     int           // arbiter's worker id: %(w)s
	PID        int
	Listener   string // the listener's protocol: http, fastcgi, scgi, uwsgi
}

type appender func(b []byte, e *Entry) []byte

// Format is a compiled format; the zero Format writes nothing.
type Format struct {
	parts []appender
	json  bool
}

// SyntaxError is a format that does not compile; Offset is the byte of the
// format where the bad directive starts.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg) }

// Atoms lists the one-letter atoms, for messages and docs.
const Atoms = "h l u t r s m U q H b B f a T D M L p w"

// Compile compiles a preset name ("common", "combined", "json") or a
// format. In a format, %(NAME)s is an atom, %({Header}i)s a request header
// and %({Header}o)s a response header ("-" when absent), %% a percent sign;
// any other use of % is an error, and so is an unknown atom (gunicorn
// writes "-" for those; a typo should not go unnoticed).
func Compile(s string) (*Format, error) {
	switch s {
	case "common":
		s = Common
	case "combined":
		s = Combined
	case JSON:
		return &Format{parts: []appender{appendJSON}, json: true}, nil
	}
	f := &Format{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			text := lit.String()
			f.parts = append(f.parts, func(b []byte, _ *Entry) []byte { return append(b, text...) })
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '(' {
			return nil, &SyntaxError{i, `a lone "%": write %(NAME)s for an atom or %% for a percent sign`}
		}
		end := strings.IndexByte(s[i+2:], ')')
		if end < 0 {
			return nil, &SyntaxError{i, `unbalanced "%(": no ")" after it`}
		}
		name := s[i+2 : i+2+end]
		after := i + 2 + end + 1
		if after >= len(s) || s[after] != 's' {
			return nil, &SyntaxError{i, fmt.Sprintf(`%%(%s) must be followed by "s": %%(%s)s`, name, name)}
		}
		a, err := atom(name)
		if err != nil {
			return nil, &SyntaxError{i, err.Error()}
		}
		flush()
		f.parts = append(f.parts, a)
		i = after
	}
	flush()
	return f, nil
}

// Append appends e's line, without a newline, to b.
func (f *Format) Append(b []byte, e *Entry) []byte {
	for _, p := range f.parts {
		b = p(b, e)
	}
	return b
}

// IsJSON reports whether f is the json preset.
func (f *Format) IsJSON() bool { return f.json }

func atom(name string) (appender, error) {
	if len(name) > 2 && name[0] == '{' {
		close := strings.LastIndexByte(name, '}')
		if close > 1 && close == len(name)-2 {
			h := textproto.CanonicalMIMEHeaderKey(name[1:close])
			switch name[len(name)-1] {
			case 'i':
				return func(b []byte, e *Entry) []byte { return appendHeader(b, e.Req.Header, h) }, nil
			case 'o':
				return func(b []byte, e *Entry) []byte { return appendHeader(b, e.RespHeader, h) }, nil
			}
		}
		return nil, fmt.Errorf(`%%(%s)s: a header is %%({Name}i)s (request) or %%({Name}o)s (response)`, name)
	}
	if a, ok := atoms[name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("unknown atom %%(%s)s; the atoms are %s, %%({Header}i)s and %%({Header}o)s", name, Atoms)
}

var atoms = map[string]appender{
	"h": func(b []byte, e *Entry) []byte { return appendText(b, remoteHost(e.Req.RemoteAddr)) },
	"l": func(b []byte, _ *Entry) []byte { return append(b, '-') },
	"u": func(b []byte, e *Entry) []byte {
		u, _, _ := e.Req.BasicAuth()
		return appendText(b, u)
	},
	"t": func(b []byte, e *Entry) []byte { return e.Time.AppendFormat(b, "[02/Jan/2006:15:04:05 -0700]") },
	"r": func(b []byte, e *Entry) []byte {
		b = appendEscaped(b, e.Req.Method)
		b = append(b, ' ')
		b = appendEscaped(b, e.Req.RequestURI)
		b = append(b, ' ')
		return appendEscaped(b, e.Req.Proto)
	},
	"s": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, int64(e.Status), 10) },
	"m": func(b []byte, e *Entry) []byte { return appendEscaped(b, e.Req.Method) },
	"U": func(b []byte, e *Entry) []byte { return appendEscaped(b, e.Req.URL.Path) },
	"q": func(b []byte, e *Entry) []byte { return appendEscaped(b, e.Req.URL.RawQuery) },
	"H": func(b []byte, e *Entry) []byte { return appendEscaped(b, e.Req.Proto) },
	"b": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, e.Bytes, 10) },
	"B": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, e.Bytes, 10) },
	"f": func(b []byte, e *Entry) []byte { return appendHeader(b, e.Req.Header, "Referer") },
	"a": func(b []byte, e *Entry) []byte { return appendHeader(b, e.Req.Header, "User-Agent") },
	"T": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, int64(e.Duration/time.Second), 10) },
	"D": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, e.Duration.Microseconds(), 10) },
	"M": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, e.Duration.Milliseconds(), 10) },
	"L": func(b []byte, e *Entry) []byte { return appendSeconds(b, e.Duration) },
	"p": func(b []byte, e *Entry) []byte {
		b = append(b, '<')
		return append(strconv.AppendInt(b, int64(e.PID), 10), '>')
	},
	"w": func(b []byte, e *Entry) []byte { return strconv.AppendInt(b, int64(e.Worker), 10) },
}

// appendSeconds writes d as seconds with six decimals, as gunicorn's %(L)s.
func appendSeconds(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	b = strconv.AppendInt(b, us/1e6, 10)
	b = append(b, '.')
	frac := us % 1e6
	for div := int64(1e5); div > 0; div /= 10 {
		b = append(b, byte('0'+frac/div%10))
	}
	return b
}

// remoteHost is the address part of a RemoteAddr "ip:port" ("[v6]:port");
// a unix socket peer has none.
func remoteHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		addr = addr[:i]
	}
	if len(addr) >= 2 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return addr
}

// appendHeader writes the first value of the canonical header name, or "-".
func appendHeader(b []byte, h http.Header, name string) []byte {
	if v := h[name]; len(v) > 0 {
		return appendText(b, v[0])
	}
	return append(b, '-')
}

// appendText writes s escaped, or "-" when it is empty.
func appendText(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

const hexDigits = "0123456789abcdef"

// appendEscaped writes s with `"` and `\` backslash-escaped and control
// bytes and DEL as \xHH.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}
