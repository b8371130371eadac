package wsgi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Two Content-Length headers that differ are a 500, not a response a
// client must refuse; the same length twice is sent once. (FuzzSetHeaders
// checks that no block gives two.)
func TestSetHeadersContentLength(t *testing.T) {
	for _, tc := range []struct {
		block string
		code  int
		want  []string
	}{
		{"200 OK\x00Content-Length\x005", 200, []string{"5"}},
		{"200 OK\x00Content-Length\x005\x00content-length\x005", 200, []string{"5"}},
		{"200 OK\x00Content-Length\x005\x00Content-Length\x00005", 200, []string{"5"}},
		{"200 OK\x00Content-Length\x005\x00Content-Length\x007", 500, nil},
	} {
		h, s := fuzzHandler()
		w := httptest.NewRecorder()
		code, err := h.setHeaders(w, []byte(tc.block), httptest.NewRequest(http.MethodGet, "/", nil), s)
		if err != nil {
			code = w.Code
		}
		got := w.Header()["Content-Length"]
		if code != tc.code || tc.want != nil && (len(got) != 1 || got[0] != tc.want[0]) {
			t.Errorf("%q: status %d, Content-Length %q; want %d, %q", tc.block, code, got, tc.code, tc.want)
		}
	}
}
