package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

// Response is what the load generator needs to know of one HTTP/1.x
// response: its status and whether the server ends the connection after it.
type Response struct {
	Status int
	Close  bool
}

// ErrMalformed wraps every reason ReadResponse cannot parse a response.
var ErrMalformed = errors.New("malformed response")

const (
	maxLineBytes  = 16 << 10 // a status, header, chunk-size or trailer line
	maxHeaderRows = 256      // header fields per response, trailers included
	maxChunkBytes = 1 << 40
)

// ReadResponse reads one response from br and discards its body. 1xx
// interim responses (100 Continue, 103 Early Hints) are skipped; 101 is
// malformed, since the load generator never asks to switch protocols.
//
// Errors: io.EOF when the connection ended before the first byte of the
// response (the server closed a keep-alive connection the request was sent
// on); io.ErrUnexpectedEOF when it ended part-way; ErrMalformed, wrapped,
// for bytes that are not an HTTP/1.x response; otherwise the reader's own
// error (a reset, a deadline).
func ReadResponse(br *bufio.Reader) (Response, error) {
	for first := true; ; first = false {
		line, err := readLine(br)
		if err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return Response{}, err
		}
		resp, http10, err := parseStatusLine(line)
		if err != nil {
			return Response{}, err
		}
		h, err := readHeader(br)
		if err != nil {
			return Response{}, err
		}
		switch {
		case resp.Status == 101:
			return Response{}, fmt.Errorf("%w: 101 Switching Protocols", ErrMalformed)
		case resp.Status < 200:
			continue
		}
		resp.Close = h.close || (http10 && !h.keepAlive)
		switch {
		case resp.Status == 204 || resp.Status == 304:
		case h.chunked:
			err = discardChunked(br)
		case h.length >= 0:
			err = discardN(br, h.length)
		default:
			// Delimited by the end of the connection.
			resp.Close = true
			_, err = io.Copy(io.Discard, br)
		}
		return resp, err
	}
}

// readLine returns one line without its CRLF (or bare LF). io.EOF means no
// byte was read; a line cut off by the end of the stream is
// io.ErrUnexpectedEOF.
func readLine(br *bufio.Reader) (string, error) {
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long)+len(frag) > maxLineBytes {
				return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, maxLineBytes)
			}
			long = append(long, frag...)
			continue
		}
		if err != nil {
			if err == io.EOF && (len(frag) > 0 || len(long) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if len(long)+len(frag) > maxLineBytes {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, maxLineBytes)
		}
		line := string(append(long, frag...))
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		return line, nil
	}
}

// parseStatusLine parses "HTTP/1.1 200 OK"; the reason may be empty.
func parseStatusLine(line string) (resp Response, http10 bool, err error) {
	bad := func() (Response, bool, error) {
		return Response{}, false, fmt.Errorf("%w: status line %q", ErrMalformed, benchkit.Clip(line, 80))
	}
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return bad()
	}
	switch line[7] {
	case '0':
		http10 = true
	case '1':
	default:
		return bad()
	}
	code := line[9:12]
	for i := 0; i < 3; i++ {
		if code[i] < '0' || code[i] > '9' {
			return bad()
		}
	}
	resp.Status, _ = strconv.Atoi(code)
	if resp.Status < 100 {
		return bad()
	}
	return resp, http10, nil
}

// header is what readHeader keeps of the header fields.
type header struct {
	length    int64 // Content-Length; -1 when absent
	chunked   bool
	close     bool // Connection: close
	keepAlive bool // Connection: keep-alive (matters for HTTP/1.0)
}

// readHeader reads header fields up to the empty line.
func readHeader(br *bufio.Reader) (header, error) {
	h := header{length: -1}
	for n := 0; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return h, err
		}
		if line == "" {
			return h, nil
		}
		if n == maxHeaderRows {
			return h, fmt.Errorf("%w: more than %d header fields", ErrMalformed, maxHeaderRows)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return h, fmt.Errorf("%w: header line %q", ErrMalformed, benchkit.Clip(line, 80))
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Content-Length"):
			v, err := strconv.ParseInt(value, 10, 64)
			if err != nil || v < 0 || (h.length >= 0 && v != h.length) {
				return h, fmt.Errorf("%w: Content-Length %q", ErrMalformed, benchkit.Clip(value, 40))
			}
			h.length = v
		case strings.EqualFold(name, "Transfer-Encoding"):
			codings := strings.Split(value, ",")
			h.chunked = strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked")
		case strings.EqualFold(name, "Connection"):
			for _, tok := range strings.Split(value, ",") {
				tok = strings.TrimSpace(tok)
				h.close = h.close || strings.EqualFold(tok, "close")
				h.keepAlive = h.keepAlive || strings.EqualFold(tok, "keep-alive")
			}
		}
	}
}

// discardChunked reads a chunked body and its trailer.
func discardChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseUint(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size > maxChunkBytes {
			return fmt.Errorf("%w: chunk size %q", ErrMalformed, benchkit.Clip(line, 40))
		}
		if size == 0 {
			_, err := readHeader(br) // the trailer
			return err
		}
		if err := discardN(br, int64(size)); err != nil {
			return err
		}
		switch line, err := readLine(br); {
		case err == io.EOF:
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		case line != "":
			return fmt.Errorf("%w: chunk not followed by CRLF", ErrMalformed)
		}
	}
}

// discardN reads and drops n bytes; fewer is io.ErrUnexpectedEOF.
func discardN(br *bufio.Reader, n int64) error {
	got, err := io.CopyN(io.Discard, br, n)
	if got < n && (err == nil || err == io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
