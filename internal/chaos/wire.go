package chaos

import (
	"bufio"
	"bytes"
	"io"

	"encoding/binary"
	"regexp"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
)

// The wire formats the hostile and slow clients write by hand: FastCGI
// records, SCGI netstrings and uwsgi packets, correct or deliberately not.

// fcgiRecord is one FastCGI record: version 1, type, request id, content
// and padding bytes of padding. The content length is the content's.
func fcgiRecord(typ byte, id uint16, content []byte, padding int) []byte {
	return fcgiRaw(1, typ, id, len(content), padding, content, padding)
}

// fcgiRaw is a record whose header may lie: it declares length and
// padding but carries content and sendPad bytes of padding.
func fcgiRaw(version, typ byte, id uint16, length, padding int, content []byte, sendPad int) []byte {
	b := []byte{version, typ, byte(id >> 8), byte(id), byte(length >> 8), byte(length), byte(padding), 0}
	b = append(b, content...)
	return append(b, make([]byte, sendPad)...)
}

// fcgiBegin is a BEGIN_REQUEST body for role, without keep-conn.
func fcgiBegin(role uint16) []byte { return []byte{byte(role >> 8), byte(role), 0, 0, 0, 0, 0, 0} }

// fcgiPairs encodes name-value pairs with 1-byte lengths (4-byte ones past
// 127).
func fcgiPairs(kv ...string) []byte {
	var b []byte
	enc := func(n int) {
		if n < 128 {
			b = append(b, byte(n))
			return
		}
		b = binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		enc(len(kv[i]))
		enc(len(kv[i+1]))
		b = append(b, kv[i]...)
		b = append(b, kv[i+1]...)
	}
	return b
}

// cgiVars are the variables of a request for uri, with a body of
// length bytes (-1: no CONTENT_LENGTH).
func cgiVars(method, uri string, length int) []string {
	kv := []string{"REQUEST_METHOD", method, "REQUEST_URI", uri, "SERVER_PROTOCOL", "HTTP/1.1",
		"SERVER_NAME", "chaos", "SERVER_PORT", "80", "REMOTE_ADDR", "127.0.0.1", "REMOTE_PORT", "4000"}
	if length >= 0 {
		kv = append(kv, "CONTENT_LENGTH", strconv.Itoa(length))
	}
	return kv
}

// fcgiRequest is a whole request with id 1: BEGIN, PARAMS, the empty
// PARAMS, the body as STDIN and the empty STDIN.
func fcgiRequest(params []byte, body string) []byte {
	b := fcgiRecord(1, 1, fcgiBegin(1), 0)
	b = append(b, fcgiRecord(4, 1, params, 0)...)
	b = append(b, fcgiRecord(4, 1, nil, 0)...)
	if body != "" {
		b = append(b, fcgiRecord(5, 1, []byte(body), 0)...)
	}
	return append(b, fcgiRecord(5, 1, nil, 0)...)
}

// scgiRequest is a netstring of the NUL-terminated strings, then the body.
func scgiRequest(body string, strs ...string) []byte {
	head := strings.Join(strs, "\x00") + "\x00"
	return []byte(strconv.Itoa(len(head)) + ":" + head + "," + body)
}

// scgiVars are SCGI's required variables first, then a request for uri.
func scgiVars(uri string, length int) []string {
	return append([]string{"CONTENT_LENGTH", strconv.Itoa(length), "SCGI", "1"}, cgiVars("POST", uri, -1)...)
}

// uwsgiVars encodes a uwsgi vars block (u16 little-endian lengths).
func uwsgiVars(kv ...string) []byte {
	var b []byte
	for _, s := range kv {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b
}

// uwsgiPacket is a header declaring size (-1: the vars' length) with
// modifiers m1 and m2, then vars.
func uwsgiPacket(m1 byte, size int, m2 byte, vars []byte) []byte {
	if size < 0 {
		size = len(vars)
	}
	return append([]byte{m1, byte(size), byte(size >> 8), m2}, vars...)
}

// httpStatuses returns the statuses of the whole HTTP responses in out,
// and whether the last one was cut off.
func httpStatuses(out []byte) (st []int, cut bool) {
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		resp, err := loadgen.ReadResponse(br)
		switch {
		case err == io.EOF:
			return st, false
		case err != nil:
			return st, true
		}
		st = append(st, resp.Status)
	}
}

// statusRe finds the status of every response in an HTTP, SCGI or uwsgi
// answer (a status line, or a CGI Status header).
var statusRe = regexp.MustCompile(`(?m)^(?:HTTP/1\.[01] |Status: )(\d{3})`)

// statuses returns the statuses in out.
func statuses(out []byte) []int {
	var s []int
	for _, m := range statusRe.FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		s = append(s, n)
	}
	return s
}

// fcgiAnswer is what a FastCGI responder sent: the statuses in its STDOUT,
// the protocol status of each END_REQUEST, management replies, and whether
// the bytes framed as records.
type fcgiAnswer struct {
	statuses    []int
	protoStatus []int
	appStatus   []int
	management  []byte // types of records with id 0
	framed      bool
}

func parseFCGI(out []byte) fcgiAnswer {
	a := fcgiAnswer{framed: true}
	var stdout []byte
	for len(out) > 0 {
		if len(out) < 8 {
			a.framed = false
			break
		}
		typ, id := out[1], binary.BigEndian.Uint16(out[2:])
		n, pad := int(binary.BigEndian.Uint16(out[4:])), int(out[6])
		if len(out) < 8+n+pad {
			a.framed = false
			break
		}
		content := out[8 : 8+n]
		switch {
		case id == 0:
			a.management = append(a.management, typ)
		case typ == 6:
			stdout = append(stdout, content...)
		case typ == 3 && n >= 5:
			a.appStatus = append(a.appStatus, int(binary.BigEndian.Uint32(content)))
			a.protoStatus = append(a.protoStatus, int(content[4]))
		}
		out = out[8+n+pad:]
	}
	a.statuses = statuses(stdout)
	return a
}
