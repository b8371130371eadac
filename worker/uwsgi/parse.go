package uwsgi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// DefaultMaxVarsBytes is the cap on the vars block when
// Server.MaxVarsBytes is 0: everything the 16-bit datasize allows.
const DefaultMaxVarsBytes = 64 << 10

// MaxVars caps the number of variables in one request, so that a block of
// tiny variables cannot cost far more memory than its size.
const MaxVars = 1024

// modifier1 values (uwsgi Protocol.rst and the plugins' sources).
const (
	modWSGI     = 0  // WSGI/HTTP vars: nginx's default
	modPSGI     = 5  // Perl
	modRack     = 7  // Ruby
	modCGI      = 9  // CGI
	modGo       = 11 // gccgo
	modPHP      = 14 // PHP
	modPathInfo = 30 // WSGI vars, SCRIPT_NAME to be stripped from PATH_INFO
)

// readHead reads the 4-byte packet header and the vars block from br and
// returns the variables, reading nothing past the block.
//
// modifier1 must be 0, one of the language modifiers that carry the same
// HTTP vars (5, 7, 9, 11, 14), or 30, for which a PATH_INFO that starts
// with SCRIPT_NAME has that prefix removed (uWSGI's
// UWSGI_MODIFIER_MANAGE_PATH_INFO, for nginx's PATH_INFO=$document_uri under
// a mount point). modifier2 is ignored, as uWSGI's request plugins ignore
// it. The block is (u16 LE key length, key, u16 LE value length, value)*;
// a key is not empty and nothing may overrun the block. A repeated HTTP_*
// variable other than HTTP_HOST (nginx before 1.23 sends one per repeated
// client header) is merged into one comma-separated value ("; " for
// HTTP_COOKIE); for other repeated variables the last wins, as in uWSGI
// (nginx sends a parameter twice when a uwsgi_param overrides one from
// uwsgi_params).
//
// An error about the packet (an unsupported modifier1, a datasize over max,
// the stream ending early) means the connection is out of step and must be
// closed; an error about the block's contents wraps cgivars.ErrBadRequest.
func readHead(br *bufio.Reader, max int) (map[string]string, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading the packet header: %w", noEOF(err))
	}
	mod1, size := hdr[0], int(binary.LittleEndian.Uint16(hdr[1:3]))
	switch mod1 {
	case modWSGI, modPSGI, modRack, modCGI, modGo, modPHP, modPathInfo:
	default:
		return nil, fmt.Errorf("unsupported modifier1 %d (packet header % x)", mod1, hdr)
	}
	if size > max {
		return nil, fmt.Errorf("vars block of %d bytes is over the %d-byte limit", size, max)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, fmt.Errorf("reading %d bytes of vars: %w", size, noEOF(err))
	}
	env, err := parseVars(string(buf))
	if err != nil {
		return nil, err
	}
	if mod1 == modPathInfo {
		if rest, ok := strings.CutPrefix(env["PATH_INFO"], env["SCRIPT_NAME"]); ok {
			env["PATH_INFO"] = rest
		}
	}
	return env, nil
}

// parseVars parses a vars block.
func parseVars(s string) (map[string]string, error) {
	env := make(map[string]string, 32)
	for off, n := 0, 0; off < len(s); n++ {
		if n == MaxVars {
			return nil, bad("more than " + strconv.Itoa(MaxVars) + " vars")
		}
		key, next, ok := field(s, off)
		if !ok {
			return nil, fieldError(s, off, "key")
		}
		if key == "" {
			return nil, bad(fmt.Sprintf("empty key at offset %d", off))
		}
		value, end, ok := field(s, next)
		if !ok {
			return nil, fieldError(s, next, "value of "+trim(key))
		}
		off = end
		cgivars.AddParam(env, key, value)
	}
	return env, nil
}

// field reads the u16-length-prefixed string at off; ok is false when the
// block ends before the string does.
func field(s string, off int) (v string, next int, ok bool) {
	if len(s)-off < 2 {
		return "", 0, false
	}
	n := int(s[off]) | int(s[off+1])<<8
	off += 2
	if n > len(s)-off {
		return "", 0, false
	}
	return s[off : off+n], off + n, true
}

// fieldError describes why field failed at off.
func fieldError(s string, off int, what string) error {
	if left := len(s) - off; left < 2 {
		return bad(fmt.Sprintf("%d stray byte(s) where the length of a %s should be", left, what))
	}
	n := int(s[off]) | int(s[off+1])<<8
	return bad(fmt.Sprintf("%s of %d bytes overruns the vars block by %d", what, n, n-(len(s)-off-2)))
}

func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func bad(msg string) error { return fmt.Errorf("%w: %s", cgivars.ErrBadRequest, msg) }

// noEOF turns the end of the stream inside the packet into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
