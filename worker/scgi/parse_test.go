package scgi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// ns builds an SCGI netstring from name, value pairs, in order.
func ns(kv ...string) string {
	var b strings.Builder
	for _, s := range kv {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return strconv.Itoa(b.Len()) + ":" + b.String() + ","
}

// rawNS wraps s in a netstring as it is.
func rawNS(s string) string { return strconv.Itoa(len(s)) + ":" + s + "," }

// encode builds a netstring from env, CONTENT_LENGTH first.
func encode(env map[string]string) string {
	kv := []string{"CONTENT_LENGTH", env["CONTENT_LENGTH"]}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k != "CONTENT_LENGTH" {
			kv = append(kv, k, env[k])
		}
	}
	return ns(kv...)
}

func TestReadHead(t *testing.T) {
	type result int
	const (
		ok     result = iota
		close         // framing error: close the connection
		answer        // content error: answer 400
	)
	tests := []struct {
		name string
		in   string
		want result
		msg  string // part of the error
	}{
		// Well-formed.
		{"minimal", ns("CONTENT_LENGTH", "0", "SCGI", "1"), ok, ""},
		{"nginx-like", ns("CONTENT_LENGTH", "5", "SCGI", "1", "REQUEST_METHOD", "POST", "REQUEST_URI", "/x", "HTTP_HOST", "h"), ok, ""},
		{"empty value is legal", ns("CONTENT_LENGTH", "0", "SCGI", "1", "QUERY_STRING", ""), ok, ""},
		{"CONTENT_LENGTH with leading zeros", ns("CONTENT_LENGTH", "007", "SCGI", "1"), ok, ""},
		{"repeated HTTP_ header merged (nginx < 1.23)", ns("CONTENT_LENGTH", "0", "SCGI", "1", "HTTP_X_A", "1", "HTTP_COOKIE", "a=1", "HTTP_X_A", "2", "HTTP_COOKIE", "b=2"), ok, ""},

		// §6.17: the netstring's length and terminator.
		{"empty length", ":" + ns("CONTENT_LENGTH", "0", "SCGI", "1")[3:], close, "empty length"},
		{"non-digit length", "2a:xx,", close, `'a' in the length`},
		{"leading zero", "024:CONTENT_LENGTH\x000\x00SCGI\x001\x00,", close, "leading zero"},
		{"double zero", "00:,", close, "leading zero"},
		{"negative length", "-24:", close, `'-' in the length`},
		{"20 digits", "99999999999999999999:", close, "over the 65536-byte limit"},
		{"over the limit", "65537:", close, "over the 65536-byte limit"},
		{"length then EOF", "24", close, "unexpected EOF"},
		{"no comma", strings.TrimSuffix(ns("CONTENT_LENGTH", "0", "SCGI", "1"), ",") + ";", close, "instead of the comma"},
		{"EOF instead of comma", strings.TrimSuffix(ns("CONTENT_LENGTH", "0", "SCGI", "1"), ","), close, "reading the comma: unexpected EOF"},
		{"EOF before the declared length", "100:CONTENT_LENGTH\x000\x00", close, "reading 100 bytes of headers: unexpected EOF"},
		{"nothing at all", "", close, "unexpected EOF"},
		{"HTTP request", "GET / HTTP/1.1\r\n\r\n", close, `'G' in the length`},

		// §6.18: the headers.
		{"zero length", "0:,", answer, "do not end with NUL"},
		{"CONTENT_LENGTH missing", ns("SCGI", "1", "REQUEST_METHOD", "GET"), answer, `first header is "SCGI"`},
		{"CONTENT_LENGTH not first", ns("SCGI", "1", "CONTENT_LENGTH", "0"), answer, `first header is "SCGI"`},
		{"CONTENT_LENGTH not digits", ns("CONTENT_LENGTH", "abc", "SCGI", "1"), answer, "is not a number"},
		{"CONTENT_LENGTH empty", ns("CONTENT_LENGTH", "", "SCGI", "1"), answer, "is not a number"},
		{"CONTENT_LENGTH negative", ns("CONTENT_LENGTH", "-1", "SCGI", "1"), answer, "is not a number"},
		{"CONTENT_LENGTH overflow", ns("CONTENT_LENGTH", "99999999999999999999", "SCGI", "1"), answer, "is not a number"},
		{"CONTENT_LENGTH duplicated", ns("CONTENT_LENGTH", "0", "SCGI", "1", "CONTENT_LENGTH", "5"), answer, `duplicate header "CONTENT_LENGTH"`},
		{"other duplicate", ns("CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_URI", "/a", "REQUEST_URI", "/b"), answer, `duplicate header "REQUEST_URI"`},
		{"duplicate HTTP_HOST", ns("CONTENT_LENGTH", "0", "SCGI", "1", "HTTP_HOST", "a", "HTTP_HOST", "b"), answer, `duplicate header "HTTP_HOST"`},
		{"duplicate SCGI", ns("CONTENT_LENGTH", "0", "SCGI", "1", "SCGI", "1"), answer, `duplicate header "SCGI"`},
		{"SCGI missing", ns("CONTENT_LENGTH", "0", "REQUEST_METHOD", "GET"), answer, "no SCGI header"},
		{"SCGI 2", ns("CONTENT_LENGTH", "0", "SCGI", "2"), answer, `SCGI is "2"`},
		{"SCGI empty", ns("CONTENT_LENGTH", "0", "SCGI", ""), answer, `SCGI is ""`},
		{"odd string count", ns("CONTENT_LENGTH", "0", "SCGI", "1", "ORPHAN"), answer, `"ORPHAN" has no value`},
		{"no trailing NUL", rawNS("CONTENT_LENGTH\x000\x00SCGI\x001\x00X"), answer, "do not end with NUL"},
		{"empty name", ns("CONTENT_LENGTH", "0", "SCGI", "1", "", "v"), answer, "empty header name"},
		{"too many headers", ns(append([]string{"CONTENT_LENGTH", "0", "SCGI", "1"}, manyVars(MaxVars)...)...), answer, "more than 1024 headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.want == ok {
				in += "BODY"
			}
			br := bufio.NewReader(strings.NewReader(in))
			env, err := readHead(br, DefaultMaxVarsBytes)
			var got result
			switch {
			case err == nil:
				got = ok
			case errors.Is(err, cgivars.ErrBadRequest):
				got = answer
			default:
				got = close
			}
			if got != tt.want {
				t.Fatalf("result %d (err %v), want %d", got, err, tt.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not contain %q", err, tt.msg)
				}
				return
			}
			if env["SCGI"] != "1" {
				t.Errorf("env %v", env)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != "BODY" {
				t.Errorf("read past the netstring: %q left", rest)
			}
		})
	}
}

func manyVars(n int) []string {
	var kv []string
	for i := range n {
		kv = append(kv, "V"+strconv.Itoa(i), "")
	}
	return kv
}

func TestReadHeadLimit(t *testing.T) {
	in := ns("CONTENT_LENGTH", "0", "SCGI", "1", "X", strings.Repeat("v", 100))
	n, _ := strconv.Atoi(in[:strings.IndexByte(in, ':')])
	if _, err := readHead(bufio.NewReader(strings.NewReader(in)), n); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := readHead(bufio.NewReader(strings.NewReader(in)), n-1); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzParse checks that readHead never panics, never reads past the
// netstring, and that whatever it accepts is a valid SCGI request that
// encodes back to something it accepts identically.
func FuzzParse(f *testing.F) {
	f.Add([]byte(ns("CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_METHOD", "GET")))
	f.Add([]byte("0:,"))
	f.Add([]byte("05:a\x00b\x00,"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		r := bytes.NewReader(data)
		br := bufio.NewReaderSize(r, 16)
		env, err := readHead(br, max)
		if err != nil {
			return
		}
		consumed := len(data) - r.Len() - br.Buffered()
		colon := bytes.IndexByte(data, ':')
		n, _ := strconv.Atoi(string(data[:colon]))
		if n > max || consumed != colon+1+n+1 || data[consumed-1] != ',' {
			t.Fatalf("accepted a netstring of %d bytes, consumed %d of %q", n, consumed, data)
		}
		if _, ok := cgivars.ParseDigits(env["CONTENT_LENGTH"]); !ok || env["SCGI"] != "1" || len(env) > MaxVars {
			t.Fatalf("accepted %q", env)
		}
		again, err := readHead(bufio.NewReader(strings.NewReader(encode(env))), max)
		if err != nil || !maps.Equal(env, again) {
			t.Fatalf("re-encoded %q: %v, %q", env, err, again)
		}
	})
}

func TestReadHeadMergesRepeatedHeaders(t *testing.T) {
	in := ns("CONTENT_LENGTH", "0", "SCGI", "1", "HTTP_X_A", "1", "HTTP_COOKIE", "a=1", "HTTP_X_A", "2", "HTTP_COOKIE", "b=2", "HTTP_X_A", "3")
	env, err := readHead(bufio.NewReader(strings.NewReader(in)), DefaultMaxVarsBytes)
	if err != nil {
		t.Fatal(err)
	}
	if env["HTTP_X_A"] != "1, 2, 3" || env["HTTP_COOKIE"] != "a=1; b=2" {
		t.Errorf("env %q", env)
	}
}
