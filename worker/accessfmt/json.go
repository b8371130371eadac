package accessfmt

import (
	"strconv"

	"unicode/utf8"
)

// appendJSON writes the json preset's object:
//
//	{"time":"2026-12-06T22:11:23.123Z","remote":"127.0.0.1","method":"GET",
//	 "uri":"/x?y=1","proto":"HTTP/1.1","status":200,"bytes":12,
//	 "duration_us":153,"referer":"","user_agent":"curl/7.88.1",
//	 "worker":3,"pid":4242,"listener":"http"}
//
// on one line; absent headers are "".
func appendJSON(b []byte, e *Entry) []byte {
	r := e.Req
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = appendJSONField(b, `","remote":`, remoteHost(r.RemoteAddr))
	b = appendJSONField(b, `,"method":`, r.Method)
	b = appendJSONField(b, `,"uri":`, r.RequestURI)
	b = appendJSONField(b, `,"proto":`, r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, e.Duration.Microseconds(), 10)
	b = appendJSONField(b, `,"referer":`, first(r.Header["Referer"]))
	b = appendJSONField(b, `,"user_agent":`, first(r.Header["User-Agent"]))
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(e.Worker), 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(e.PID), 10)
	b = appendJSONField(b, `,"listener":`, e.Listener)
	return append(b, '}')
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func appendJSONField(b []byte, prefix, s string) []byte {
	return appendJSONString(append(b, prefix...), s)
}

// appendJSONString writes s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
