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

// setHeaders puts the app's status and headers into w's header map and
// returns the status code. Hop-by-hop headers are dropped but for a
// Connection: close, which is kept; the same Content-Length twice is kept
// once. A block arbiter cannot send (a bad status or header, which the
// runner should never have let through, or two Content-Length headers that
// differ) is a 500, logged.
func (h *Handler) setHeaders(w http.ResponseWriter, block []byte, r *http.Request, s *slot) (int, error) {
	status, rest, _ := bytes.Cut(block, []byte{0})
	code, ok := 0, len(status) >= 3 && (len(status) == 3 || status[3] == ' ')
	if ok {
		c, err := strconv.Atoi(string(status[:3]))
		code, ok = c, err == nil && c >= 200 && c <= 999
	}
	if !ok {
		return 0, h.badResponse(w, r, s, fmt.Sprintf("bad status %q", status))
	}
	hdr := w.Header()
	// One string holds every name and value, and one array the values:
	// three allocations for the whole block instead of three a header.
	block2 := string(rest)
	vals := make([]string, strings.Count(block2, "\x00")/2)
	for len(block2) > 0 {
		name, r2, ok := strings.Cut(block2, "\x00")
		if !ok {
			return 0, h.badResponse(w, r, s, "a header without a value")
		}
		var value string
		value, block2, _ = strings.Cut(r2, "\x00")
		if !cgivars.IsToken(name) || !cgivars.IsFieldValue(value) {
			return 0, h.badResponse(w, r, s, fmt.Sprintf("bad header %q: %q", name, value))
		}
		key := http.CanonicalHeaderKey(name)
		if hopByHop[key] {
			if key == "Connection" && strings.Contains(strings.ToLower(value), "close") {
				hdr.Set("Connection", "close")
			}
			continue
		}
		if key == "Content-Length" {
			n, ok := cgivars.ParseDigits(value)
			if !ok {
				return 0, h.badResponse(w, r, s, fmt.Sprintf("bad Content-Length %q", value))
			}
			if cl := hdr[key]; len(cl) > 0 {
				// A client must refuse two lengths (RFC 9112 §6.3); the same
				// one twice is sent once (RFC 9110 §8.6).
				if first, _ := cgivars.ParseDigits(cl[0]); first != n {
					return 0, h.badResponse(w, r, s, fmt.Sprintf("two Content-Length headers, %q and %q", cl[0], value))
				}
				continue
			}
		}
		if vv := hdr[key]; vv != nil || len(vals) == 0 {
			hdr[key] = append(vv, value)
		} else {
			vals[0] = value
			hdr[key] = vals[:1:1]
			vals = vals[1:]
		}
	}
	return code, nil
}

var errBadResponse = errors.New("bad response from the app")

func (h *Handler) badResponse(w http.ResponseWriter, r *http.Request, s *slot, what string) error {
	h.reqLog(s, r).Error().Msg("app sent a response arbiter cannot send: " + what)
	clear(w.Header())
	http.Error(w, "500 internal server error", http.StatusInternalServerError)
	return errBadResponse
}
