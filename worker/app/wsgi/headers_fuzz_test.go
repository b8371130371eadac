package wsgi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// fuzzHandler is a Handler with just what setHeaders and the response
// path use, and a slot of a process that is serving.
func fuzzHandler() (*Handler, *slot) {
	p := &pool{log: zerolog.Nop(), free: make(chan *slot, 4), kick: make(chan struct{}, 1),
		procs: map[int]*proc{}, byPID: map[int]*proc{}}
	pr := &proc{id: 1, state: ready, busy: 1, exited: make(chan struct{}), firstRead: make(chan struct{})}
	s := &slot{p: pr, use: true, seq: 1}
	pr.slots = []*slot{s}
	p.procs[1] = pr
	return &Handler{pool: p, log: zerolog.Nop(), cfg: Config{BufferSize: 4 << 10, Threads: 1, Processes: 1}}, s
}

// checkSentHeaders fails t unless hdr is a header map arbiter may send: each
// name a canonical token, no hop-by-hop header but "Connection: close",
// values without CR, LF, NUL or another control character, and at most one
// Content-Length, of digits.
func checkSentHeaders(t *testing.T, hdr http.Header) {
	t.Helper()
	for k, vv := range hdr {
		if !cgivars.IsToken(k) || http.CanonicalHeaderKey(k) != k {
			t.Fatalf("header name %q", k)
		}
		if hopByHop[k] && (k != "Connection" || len(vv) != 1 || vv[0] != "close") {
			t.Fatalf("hop-by-hop header %s: %q", k, vv)
		}
		for _, v := range vv {
			if !cgivars.IsFieldValue(v) {
				t.Fatalf("header %s has a control character: %q", k, v)
			}
		}
	}
	if cl := hdr["Content-Length"]; len(cl) > 0 {
		if len(cl) > 1 {
			t.Fatalf("%d Content-Length headers: %q", len(cl), cl)
		}
		if _, ok := cgivars.ParseDigits(cl[0]); !ok {
			t.Fatalf("Content-Length %q", cl[0])
		}
	}
}

// parseBlock reads a HEADERS block the way the runner builds one: the
// status, then NUL, name, NUL, value for each header (a NUL after the last
// value is let through). ok is false for a name without a value.
func parseBlock(block []byte) (status []byte, pairs [][2][]byte, ok bool) {
	parts := bytes.Split(block, []byte{0})
	status, parts = parts[0], parts[1:]
	if len(parts)%2 == 1 {
		if len(parts[len(parts)-1]) > 0 {
			return status, nil, false
		}
		parts = parts[:len(parts)-1]
	}
	for i := 0; i < len(parts); i += 2 {
		pairs = append(pairs, [2][]byte{parts[i], parts[i+1]})
	}
	return status, pairs, true
}

// encodeBlock is the runner's encoding: status NUL name NUL value ...
func encodeBlock(status string, hdr http.Header) []byte {
	b := []byte(status)
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range hdr[k] {
			b = append(append(append(append(b, 0), k...), 0), v...)
		}
	}
	return b
}

// FuzzSetHeaders gives setHeaders any block. A block it takes must give a
// status from 200 to 999 and headers arbiter may send, exactly the block's
// headers less the hop-by-hop ones, and the same again when the result is
// encoded back into a block; a block it refuses is a 500 with nothing of
// the app's headers left.
func FuzzSetHeaders(f *testing.F) {
	f.Fuzz(func(t *testing.T, block []byte) {
		h, s := fuzzHandler()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		code, err := h.setHeaders(w, block, r, s)
		if err != nil {
			if !errors.Is(err, errBadResponse) || w.Code != http.StatusInternalServerError {
				t.Fatalf("refused with %v, status %d", err, w.Code)
			}
			for k := range w.Header() {
				if k != "Content-Type" && k != "X-Content-Type-Options" {
					t.Fatalf("refused, yet header %s is left", k)
				}
			}
			return
		}
		if code < 200 || code > 999 {
			t.Fatalf("status %d", code)
		}
		hdr := w.Header()
		checkSentHeaders(t, hdr)
		status, pairs, ok := parseBlock(block)
		if !ok {
			t.Fatalf("took a block with a name without a value")
		}
		if c, err := strconv.Atoi(string(status[:3])); err != nil || c != code {
			t.Fatalf("status %q gave %d", status, code)
		}
		want := http.Header{}
		for _, kv := range pairs {
			k := http.CanonicalHeaderKey(string(kv[0]))
			switch {
			case k == "Connection" && bytes.Contains(bytes.ToLower(kv[1]), []byte("close")):
				want.Set("Connection", "close")
			case hopByHop[k]:
			case k == "Content-Length" && len(want[k]) > 0:
				// a repeat of the same length is dropped
			default:
				want[k] = append(want[k], string(kv[1]))
			}
		}
		if !reflect.DeepEqual(hdr, want) {
			t.Fatalf("headers %q, want %q", hdr, want)
		}
		w2 := httptest.NewRecorder()
		code2, err := h.setHeaders(w2, encodeBlock(string(status), hdr), r, s)
		if err != nil || code2 != code || !reflect.DeepEqual(w2.Header(), hdr) {
			t.Fatalf("encoded again: %d %v %q, want %d %q", code2, err, w2.Header(), code, hdr)
		}
	})
}
