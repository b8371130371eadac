package fastcgi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Name-value pairs (FastCGI 1.0 §3.4): nameLength, valueLength, name, value.
// A length up to 127 is one byte; a longer one is four bytes, big-endian,
// with the high bit set (31 bits of length).

// parseParams decodes the name-value pairs in s, the whole of a PARAMS (or
// GET_VALUES) stream, calling fn for each in order. It never allocates for a
// declared length: a length is checked against what is left of s before it
// is used, so a 0x7fffffff length fails instead of reserving memory. The
// strings fn gets are substrings of s.
//
// A pair that runs past the end of s, an empty name and a name containing
// NUL are errors (no CGI variable looks like that). Values may be empty and
// may contain any byte; what a value may hold is the request builder's
// business.
func parseParams(s string, fn func(name, value string)) error {
	for len(s) > 0 {
		nlen, rest, ok := paramLen(s)
		if !ok {
			return errors.New("params: truncated name length")
		}
		vlen, rest, ok := paramLen(rest)
		if !ok {
			return errors.New("params: truncated value length")
		}
		if nlen > len(rest) || vlen > len(rest)-nlen {
			return fmt.Errorf("params: pair of %d+%d bytes runs past the end of the stream (%d bytes left)",
				nlen, vlen, len(rest))
		}
		name, value := rest[:nlen], rest[nlen:nlen+vlen]
		if name == "" {
			return errors.New("params: empty name")
		}
		if strings.IndexByte(name, 0) >= 0 {
			return fmt.Errorf("params: NUL in name %q", name)
		}
		fn(name, value)
		s = rest[nlen+vlen:]
	}
	return nil
}

// paramLen decodes one length from the front of s.
func paramLen(s string) (n int, rest string, ok bool) {
	if len(s) == 0 {
		return 0, s, false
	}
	if s[0]&0x80 == 0 {
		return int(s[0]), s[1:], true
	}
	if len(s) < 4 {
		return 0, s, false
	}
	v := uint32(s[0]&0x7f)<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
	return int(v), s[4:], true
}

// appendParam appends one name-value pair, choosing 1- or 4-byte lengths.
func appendParam(dst []byte, name, value string) []byte {
	dst = appendParamLen(dst, len(name))
	dst = appendParamLen(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

func appendParamLen(dst []byte, n int) []byte {
	if n <= 127 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}
