package cgi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// Limits on a script's header block.
const (
	maxHeaderBytes  = 64 << 10 // the whole block, line ends included
	maxHeaderLine   = 16 << 10 // one line
	maxHeaderFields = 256
	readerSize      = maxHeaderLine + 2 // a bufio.Reader that holds a longest line and its CRLF
)

// outputError is output that breaks RFC 3875 §6: the client gets 502 and
// the log the reason.
type outputError struct {
	reason string
	eof    bool // the output had ended: the script is exiting
}

func (e *outputError) Error() string { return e.reason }

func badOutput(format string, args ...any) error {
	return &outputError{reason: fmt.Sprintf(format, args...)}
}

// scriptHeader is a parsed CGI response header block.
type scriptHeader struct {
	status   int         // from Status:, 0 when absent
	location string      // from Location:, "" when absent
	fields   http.Header // every other field (Content-Type included), canonical names, in order of arrival per name
}

// readHeader reads a script's header block (RFC 3875 §6.2, §6.3) from br, up
// to and including the empty line that ends it, and leaves br at the first
// byte of the body.
//
// Lines end with LF, optionally preceded by CR (§7.2 allows both). A header
// block is invalid, and readHeader returns an *outputError, when:
//   - the output ends before the empty line (including no output at all);
//   - a line has a CR that is not just before its LF (bare CR), or any other
//     control character than HT, NUL included;
//   - a line begins with a space or tab (obs-fold continuation lines are not
//     CGI);
//   - a line has no colon, or its name is empty or not an HTTP token
//     ("Content-Type :" is refused);
//   - Status, Location or Content-Type appears twice;
//   - Status is not three digits, optionally followed by a space and a
//     reason, or is outside 200–599 (a 1xx cannot be the final status, and
//     net/http panics on codes outside 100–999);
//   - Location is empty;
//   - none of Content-Type, Location and Status is present;
//   - a line is longer than 16 KiB, the block longer than 64 KiB, or there
//     are more than 256 fields.
//
// Any other read error (a deadline, a closed pipe) is returned as it is.
func readHeader(br *bufio.Reader) (*scriptHeader, error) {
	h := &scriptHeader{fields: make(http.Header)}
	total, count := 0, 0
	seenCT := false
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if total > maxHeaderBytes {
			return nil, badOutput("header block longer than %d bytes", maxHeaderBytes)
		}
		if err != nil {
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				return nil, badOutput("header line longer than %d bytes", maxHeaderLine)
			case err == io.EOF && total == 0:
				return nil, &outputError{reason: "no output", eof: true}
			case err == io.EOF:
				return nil, &outputError{reason: "output ended before the blank line that ends the header block", eof: true}
			}
			return nil, err
		}
		if len(line) > maxHeaderLine+2 {
			return nil, badOutput("header line longer than %d bytes", maxHeaderLine)
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break
		}
		if count++; count > maxHeaderFields {
			return nil, badOutput("more than %d header fields", maxHeaderFields)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badOutput("continuation line (obs-fold) in the header block")
		}
		for _, c := range line {
			switch {
			case c == '\r':
				return nil, badOutput("bare CR in the header block")
			case c == 0:
				return nil, badOutput("NUL in the header block")
			case c < ' ' && c != '\t' || c == 0x7f:
				return nil, badOutput("control character %#02x in the header block", c)
			}
		}
		colon := strings.IndexByte(string(line), ':')
		if colon < 0 {
			return nil, badOutput("header line without a colon: %q", truncate(line))
		}
		name := string(line[:colon])
		if !cgivars.IsToken(name) {
			return nil, badOutput("invalid header name %q", truncate(line[:colon]))
		}
		value := strings.Trim(string(line[colon+1:]), " \t")
		switch key := textproto.CanonicalMIMEHeaderKey(name); key {
		case "Status":
			if h.status != 0 {
				return nil, badOutput("Status given twice")
			}
			code, ok := parseStatus(value)
			if !ok {
				return nil, badOutput("invalid Status %q: want three digits from 200 to 599 and a reason", truncate([]byte(value)))
			}
			h.status = code
		case "Location":
			if h.location != "" {
				return nil, badOutput("Location given twice")
			}
			if value == "" {
				return nil, badOutput("empty Location")
			}
			h.location = value
		default:
			if key == "Content-Type" {
				if seenCT {
					return nil, badOutput("Content-Type given twice")
				}
				seenCT = true
			}
			h.fields[key] = append(h.fields[key], value)
		}
	}
	if h.status == 0 && h.location == "" && !seenCT {
		return nil, badOutput("no Content-Type, Location or Status in the header block")
	}
	return h, nil
}

// parseStatus parses a Status value: "NNN" or "NNN reason", 200 ≤ NNN ≤ 599.
// The reason is not kept: net/http and the CGI-style servers write the
// standard reason phrase for the code.
func parseStatus(v string) (int, bool) {
	if len(v) < 3 || len(v) > 3 && v[3] != ' ' && v[3] != '\t' {
		return 0, false
	}
	code := 0
	for i := 0; i < 3; i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	return code, code >= 200 && code <= 599
}

// truncate shortens b for a log line.
func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:61]) + "..."
	}
	return string(b)
}
