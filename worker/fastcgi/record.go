package fastcgi

import (
	"encoding/binary"
	"fmt"
)

// Record layout (FastCGI 1.0 §3.3): an 8-byte header, contentLength bytes of
// content, paddingLength bytes of padding.
const (
	headerLen  = 8
	maxContent = 65535 // contentLength is a u16
	version1   = 1
)

// recType is a record's type byte.
type recType uint8

// Record types (§8).
const (
	typeBeginRequest    recType = 1
	typeAbortRequest    recType = 2
	typeEndRequest      recType = 3
	typeParams          recType = 4
	typeStdin           recType = 5
	typeStdout          recType = 6
	typeStderr          recType = 7
	typeData            recType = 8
	typeGetValues       recType = 9
	typeGetValuesResult recType = 10
	typeUnknownType     recType = 11
)

// BEGIN_REQUEST roles and flags.
const (
	roleResponder = 1
	flagKeepConn  = 1
)

// END_REQUEST protocolStatus values.
const (
	statusRequestComplete = 0
	statusCantMpxConn     = 1
	statusOverloaded      = 2
	statusUnknownRole     = 3
)

// header is a decoded record header. The reserved byte is ignored.
type header struct {
	typ     recType
	id      uint16
	length  int // contentLength
	padding int // paddingLength
}

// parseHeader decodes the first headerLen bytes of b. A version other than 1
// is an error: nothing after it can be framed with confidence.
func parseHeader(b []byte) (header, error) {
	if b[0] != version1 {
		return header{}, protoErrorf("record version %d, want 1", b[0])
	}
	return header{
		typ:     recType(b[1]),
		id:      binary.BigEndian.Uint16(b[2:4]),
		length:  int(binary.BigEndian.Uint16(b[4:6])),
		padding: int(b[6]),
	}, nil
}

// padLen is the padding that brings n content bytes to a multiple of 8.
func padLen(n int) int { return -n & 7 }

// zeros is padding.
var zeros [8]byte

// appendHeader appends a record header for n content bytes, padded to 8.
// n must be at most maxContent.
func appendHeader(dst []byte, t recType, id uint16, n int) []byte {
	return append(dst, version1, byte(t), byte(id>>8), byte(id), byte(n>>8), byte(n), byte(padLen(n)), 0)
}

// putHeader writes the header for n content bytes, padded to 8, into b[:8].
func putHeader(b []byte, t recType, id uint16, n int) {
	b[0], b[1] = version1, byte(t)
	binary.BigEndian.PutUint16(b[2:4], id)
	binary.BigEndian.PutUint16(b[4:6], uint16(n))
	b[6], b[7] = byte(padLen(n)), 0
}

// appendRecord appends one record carrying content (at most maxContent
// bytes), padded to 8.
func appendRecord(dst []byte, t recType, id uint16, content []byte) []byte {
	dst = appendHeader(dst, t, id, len(content))
	dst = append(dst, content...)
	return append(dst, zeros[:padLen(len(content))]...)
}

// appendEndRequest appends an END_REQUEST record.
func appendEndRequest(dst []byte, id uint16, appStatus uint32, protocolStatus uint8) []byte {
	dst = appendHeader(dst, typeEndRequest, id, 8)
	dst = binary.BigEndian.AppendUint32(dst, appStatus)
	return append(dst, protocolStatus, 0, 0, 0)
}

// appendUnknownType appends the UNKNOWN_TYPE answer to a management record
// of type t.
func appendUnknownType(dst []byte, t recType) []byte {
	dst = appendHeader(dst, typeUnknownType, 0, 8)
	return append(dst, byte(t), 0, 0, 0, 0, 0, 0, 0)
}

// protoError is a violation of the FastCGI protocol by the peer: the
// connection is closed and the reason logged.
type protoError struct{ msg string }

func (e *protoError) Error() string { return "fastcgi: " + e.msg }

func protoErrorf(format string, args ...any) error {
	return &protoError{msg: fmt.Sprintf(format, args...)}
}

func (t recType) String() string {
	names := [...]string{"", "BEGIN_REQUEST", "ABORT_REQUEST", "END_REQUEST", "PARAMS", "STDIN",
		"STDOUT", "STDERR", "DATA", "GET_VALUES", "GET_VALUES_RESULT", "UNKNOWN_TYPE"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("type %d", uint8(t))
}
