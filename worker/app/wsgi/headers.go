package wsgi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// Hop-by-hop headers an app must not send (PEP 3333); a Connection: close
// is honoured, the rest are dropped.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true,
}

// checkBlock checks the app's status and headers (a HEADERS payload, or
// the head of a COMPLETE one) and returns the status code and the fields
// to send, appended to fields as name, value, ...: names canonical,
// hop-by-hop headers dropped but for a Connection: close, which is kept as
// one "Connection: close" field, and the same Content-Length twice kept
// once; clen is that Content-Length ("" for none). bad says what is wrong with a block arbiter cannot send (a bad
// status or header, which the runner should never have let through, or two
// Content-Length headers that differ). The names and values share one
// string: one allocation for the whole block.
func checkBlock(block []byte, fields []string) (code int, out []string, clen, bad string) {
	status, rest, _ := bytes.Cut(block, []byte{0})
	ok := len(status) >= 3 && (len(status) == 3 || status[3] == ' ')
	if ok {
		c, err := strconv.Atoi(string(status[:3]))
		code, ok = c, err == nil && c >= 200 && c <= 999
	}
	if !ok {
		return 0, fields, "", fmt.Sprintf("bad status %q", status)
	}
	out = fields
	closing := false
	for block2 := string(rest); len(block2) > 0; {
		name, r2, ok := strings.Cut(block2, "\x00")
		if !ok {
			return 0, fields, "", "a header without a value"
		}
		var value string
		value, block2, _ = strings.Cut(r2, "\x00")
		if !cgivars.IsToken(name) || !cgivars.IsFieldValue(value) {
			return 0, fields, "", fmt.Sprintf("bad header %q: %q", name, value)
		}
		key := http.CanonicalHeaderKey(name)
		if hopByHop[key] {
			if key == "Connection" && !closing && strings.Contains(strings.ToLower(value), "close") {
				closing = true
				out = append(out, "Connection", "close")
			}
			continue
		}
		if key == "Content-Length" {
			n, ok := cgivars.ParseDigits(value)
			if !ok {
				return 0, fields, "", fmt.Sprintf("bad Content-Length %q", value)
			}
			if clen != "" {
				// A client must refuse two lengths (RFC 9112 §6.3); the same
				// one twice is sent once (RFC 9110 §8.6).
				if first, _ := cgivars.ParseDigits(clen); first != n {
					return 0, fields, "", fmt.Sprintf("two Content-Length headers, %q and %q", clen, value)
				}
				continue
			}
			clen = value
		}
		out = append(out, key, value)
	}
	return code, out, clen, ""
}

// setHeaders puts the app's status and headers (checkBlock) into w's
// header map and returns the status code; a block arbiter cannot send is
// a 500, logged.
func (h *Handler) setHeaders(w http.ResponseWriter, block []byte, r *http.Request, s *slot) (int, error) {
	var buf [16]string
	code, fields, _, bad := checkBlock(block, buf[:0])
	if bad != "" {
		return 0, h.badResponse(w, r, s, bad)
	}
	fillHeader(w.Header(), fields)
	return code, nil
}

// fillHeader adds fields (name, value, ...) to hdr, the values of the
// names new to it in one array.
func fillHeader(hdr http.Header, fields []string) {
	vals := make([]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		key, value := fields[i], fields[i+1]
		if key == "Connection" {
			hdr.Set(key, value) // one Connection: close, whoever else said it
			continue
		}
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, value)
		} else {
			vals[0] = value
			hdr[key] = vals[:1:1]
			vals = vals[1:]
		}
	}
}

var errBadResponse = errors.New("bad response from the app")

func (h *Handler) badResponse(w http.ResponseWriter, r *http.Request, s *slot, what string) error {
	h.reqLog(s, r).Error().Msg("app sent a response arbiter cannot send: " + what)
	clear(w.Header())
	http.Error(w, "500 internal server error", http.StatusInternalServerError)
	return errBadResponse
}
