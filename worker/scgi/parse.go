package scgi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// DefaultMaxVarsBytes is the cap on the netstring's length when
// Server.MaxVarsBytes is 0.
const DefaultMaxVarsBytes = 64 << 10

// MaxVars caps the number of variables in one request, so that a netstring
// of tiny variables cannot cost far more memory than its length.
const MaxVars = 1024

// readHead reads the request's netstring from br and returns its variables,
// reading nothing past the netstring's comma. The SCGI spec is applied
// strictly: the length is one or more digits with no leading zero, at most
// max; the headers are NUL-terminated name/value pairs with non-empty,
// unique names; the first is CONTENT_LENGTH, made of digits; SCGI is "1".
// The one exception to unique names: a repeated HTTP_* variable other than
// HTTP_HOST is merged into one comma-separated value ("; " for HTTP_COOKIE),
// because nginx before 1.23 sends one per repeated client header.
//
// An error about the netstring itself (its length, a missing comma, the
// stream ending early) means the connection is out of step and must be
// closed; an error about a complete netstring's contents wraps
// cgivars.ErrBadRequest.
func readHead(br *bufio.Reader, max int) (map[string]string, error) {
	n, err := readLength(br, max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, fmt.Errorf("netstring: reading %d bytes of headers: %w", n, noEOF(err))
	}
	c, err := br.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("netstring: reading the comma: %w", noEOF(err))
	}
	if c != ',' {
		return nil, fmt.Errorf("netstring: %q instead of the comma after %d bytes", c, n)
	}
	return parseHeaders(string(buf))
}

// readLength reads the netstring's length and its colon.
func readLength(br *bufio.Reader, max int) (int, error) {
	n := 0
	for i := 0; ; i++ {
		c, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("netstring: reading the length: %w", noEOF(err))
		}
		switch {
		case c == ':' && i == 0:
			return 0, errors.New("netstring: empty length")
		case c == ':':
			return n, nil
		case c < '0' || c > '9':
			return 0, fmt.Errorf("netstring: %q in the length", c)
		case i == 1 && n == 0:
			return 0, errors.New("netstring: leading zero in the length")
		}
		n = n*10 + int(c-'0')
		if n > max {
			return 0, fmt.Errorf("netstring: length over the %d-byte limit", max)
		}
	}
}

// parseHeaders parses the netstring's contents.
func parseHeaders(s string) (map[string]string, error) {
	if s == "" || s[len(s)-1] != 0 {
		return nil, bad("headers do not end with NUL")
	}
	env := make(map[string]string, 32)
	n := 0
	for first := true; s != ""; first = false {
		i := strings.IndexByte(s, 0)
		name := s[:i]
		s = s[i+1:]
		if name == "" {
			return nil, bad("empty header name")
		}
		if s == "" {
			return nil, bad(fmt.Sprintf("header %.64q has no value", name))
		}
		j := strings.IndexByte(s, 0) // found: s ends with NUL
		value := s[:j]
		s = s[j+1:]
		if first && name != "CONTENT_LENGTH" {
			return nil, bad(fmt.Sprintf("first header is %.64q, not CONTENT_LENGTH", name))
		}
		if n++; n > MaxVars {
			return nil, bad("more than " + strconv.Itoa(MaxVars) + " headers")
		}
		if _, dup := env[name]; dup && !cgivars.Mergeable(name) {
			return nil, bad(fmt.Sprintf("duplicate header %.64q", name))
		}
		cgivars.AddParam(env, name, value)
	}
	if _, ok := cgivars.ParseDigits(env["CONTENT_LENGTH"]); !ok {
		return nil, bad(fmt.Sprintf("CONTENT_LENGTH %.32q is not a number", env["CONTENT_LENGTH"]))
	}
	if v, ok := env["SCGI"]; !ok || v != "1" {
		if !ok {
			return nil, bad("no SCGI header")
		}
		return nil, bad(fmt.Sprintf("SCGI is %.32q, not 1", v))
	}
	return env, nil
}

// mergeable reports whether a repeated name is merged rather than refused:
// the spec forbids duplicates, but nginx before 1.23 sends one HTTP_*
// variable per header line, so a client repeating a header (X-Forwarded-For,
// Accept) would be refused. RFC 3875 §4.1.18 says such values are merged.
// Host is not: a repeated Host is ambiguous (and nginx refuses it).
func bad(msg string) error { return fmt.Errorf("%w: %s", cgivars.ErrBadRequest, msg) }

// noEOF turns the end of the stream inside the netstring into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
