package uwsgi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// vars encodes key, value pairs as a uwsgi vars block, in order.
func vars(kv ...string) string {
	var b []byte
	for _, s := range kv {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return string(b)
}

// pkt is a uwsgi packet: the 4-byte header and the block.
func pkt(mod1, mod2 byte, block string) string {
	h := []byte{mod1, 0, 0, mod2}
	binary.LittleEndian.PutUint16(h[1:3], uint16(len(block)))
	return string(h) + block
}

// encode builds a packet from env, keys sorted.
func encode(env map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		kv = append(kv, k, env[k])
	}
	return pkt(0, 0, vars(kv...))
}

func TestReadHead(t *testing.T) {
	type result int
	const (
		ok     result = iota
		close         // a bad packet: close the connection
		answer        // a bad vars block: answer 400
	)
	get := vars("REQUEST_METHOD", "GET", "REQUEST_URI", "/")
	tests := []struct {
		name string
		in   string
		want result
		msg  string
		env  map[string]string // checked when not nil
	}{
		{"nginx GET", pkt(0, 0, get), ok, "", map[string]string{"REQUEST_METHOD": "GET", "REQUEST_URI": "/"}},
		{"empty value", pkt(0, 0, vars("REQUEST_METHOD", "GET", "CONTENT_LENGTH", "")), ok, "", map[string]string{"REQUEST_METHOD": "GET", "CONTENT_LENGTH": ""}},
		{"datasize 0", pkt(0, 0, ""), ok, "", map[string]string{}},
		{"modifier1 5 (PSGI)", pkt(5, 0, get), ok, "", nil},
		{"modifier1 7 (Rack)", pkt(7, 0, get), ok, "", nil},
		{"modifier1 9 (CGI)", pkt(9, 0, get), ok, "", nil},
		{"modifier1 11 (Go)", pkt(11, 0, get), ok, "", nil},
		{"modifier1 14 (PHP)", pkt(14, 0, get), ok, "", nil},
		{"modifier2 ignored", pkt(0, 7, get), ok, "", nil},
		{"modifier1 30 strips SCRIPT_NAME", pkt(30, 0, vars("SCRIPT_NAME", "/app", "PATH_INFO", "/app/x/y")), ok, "",
			map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/x/y"}},
		{"modifier1 30, PATH_INFO elsewhere", pkt(30, 0, vars("SCRIPT_NAME", "/app", "PATH_INFO", "/other")), ok, "",
			map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/other"}},
		{"modifier1 0 keeps PATH_INFO", pkt(0, 0, vars("SCRIPT_NAME", "/app", "PATH_INFO", "/app/x")), ok, "",
			map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/app/x"}},
		{"repeated HTTP_ vars merged", pkt(0, 0, vars("HTTP_X_A", "1", "HTTP_X_A", "2", "HTTP_COOKIE", "a=1", "HTTP_COOKIE", "b=2")), ok, "",
			map[string]string{"HTTP_X_A": "1, 2", "HTTP_COOKIE": "a=1; b=2"}},
		{"repeated other var: last wins", pkt(0, 0, vars("SERVER_NAME", "a", "SERVER_NAME", "b", "HTTP_HOST", "h1", "HTTP_HOST", "h2")), ok, "",
			map[string]string{"SERVER_NAME": "b", "HTTP_HOST": "h2"}},
		{"binary key and value", pkt(0, 0, vars("K\x00\xff", "\x00\r\n")), ok, "", map[string]string{"K\x00\xff": "\x00\r\n"}},

		// §6.20: datasize against the data.
		{"datasize larger than the data", pkt(0, 0, get)[:len(pkt(0, 0, get))-3], close, "reading 37 bytes of vars: unexpected EOF", nil},
		{"datasize smaller than the vars", pkt(0, 0, get[:5]), answer, "key of 14 bytes overruns the vars block by 11", nil},
		{"header cut short", "\x00\x10", close, "reading the packet header: unexpected EOF", nil},
		{"nothing", "", close, "unexpected EOF", nil},
		{"over the limit", "\x00\xff\xff\x00", close, "vars block of 65535 bytes is over the 8192-byte limit", nil},

		// §6.21: the block's structure.
		{"keylen 0", pkt(0, 0, vars("", "v")), answer, "empty key at offset 0", nil},
		{"vallen overruns", pkt(0, 0, get+"\x01\x00K\x09\x00abc"), answer, "value of K of 9 bytes overruns the vars block by 6", nil},
		{"one trailing byte", pkt(0, 0, get+"\x05"), answer, "1 stray byte(s) where the length of a key should be", nil},
		{"value length cut", pkt(0, 0, get+"\x01\x00K\x09"), answer, "1 stray byte(s) where the length of a value of K should be", nil},
		{"too many vars", pkt(0, 0, strings.Repeat(vars("K", ""), MaxVars+1)), answer, "more than 1024 vars", nil},

		// §6.22: modifiers.
		{"modifier1 100 (ping)", pkt(100, 0, ""), close, "unsupported modifier1 100", nil},
		{"modifier1 72 (raw HTTP)", pkt(72, 0, get), close, "unsupported modifier1 72", nil},
		{"modifier1 255", pkt(255, 0, get), close, "unsupported modifier1 255", nil},
		{"modifier1 173 (RPC)", pkt(173, 0, get), close, "unsupported modifier1 173", nil},
		{"raw HTTP request", "GET / HTTP/1.1\r\n\r\n", close, "unsupported modifier1 71 (packet header 47 45 54 20)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.want == ok {
				in += "BODY"
			}
			br := bufio.NewReader(strings.NewReader(in))
			env, err := readHead(br, 8192)
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
			if tt.env != nil && !maps.Equal(env, tt.env) {
				t.Errorf("env %q, want %q", env, tt.env)
			}
			if rest, _ := io.ReadAll(br); string(rest) != "BODY" {
				t.Errorf("read past the block: %q left", rest)
			}
		})
	}
}

// FuzzParse checks that readHead never panics, never reads past the
// packet, and that whatever it accepts from a modifier1 0 packet encodes
// back to a packet it accepts identically.
func FuzzParse(f *testing.F) {
	f.Add([]byte(pkt(0, 0, vars("REQUEST_METHOD", "GET", "REQUEST_URI", "/", "HTTP_HOST", "h"))))
	f.Add([]byte(pkt(30, 0, vars("SCRIPT_NAME", "/a", "PATH_INFO", "/a/b"))))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		r := bytes.NewReader(data)
		br := bufio.NewReaderSize(r, 16)
		env, err := readHead(br, max)
		if err != nil {
			return
		}
		size := int(binary.LittleEndian.Uint16(data[1:3]))
		if consumed := len(data) - r.Len() - br.Buffered(); consumed != 4+size || size > max {
			t.Fatalf("datasize %d, consumed %d of %q", size, consumed, data)
		}
		if len(env) > MaxVars {
			t.Fatalf("%d vars", len(env))
		}
		for k := range env {
			if k == "" {
				t.Fatalf("empty key accepted from %q", data)
			}
		}
		if data[0] != 0 {
			return // other modifiers may rewrite PATH_INFO
		}
		again, err := readHead(bufio.NewReader(strings.NewReader(encode(env))), 1<<16)
		if err != nil || !maps.Equal(env, again) {
			t.Fatalf("re-encoded %q: %v, %q", env, err, again)
		}
	})
}
