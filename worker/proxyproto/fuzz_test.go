package proxyproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRead checks that Read does not panic, that every failure about the
// bytes wraps ErrHeader (an empty input is io.EOF), and that a header it accepts leaves exactly the
// bytes after it unread.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /"))
	f.Add(v2(1, 0x21, inet("2001:db8::1", "2001:db8::2", 1, 2), 0x01, 0, 2, 'h', '2'))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		r := bufio.NewReaderSize(src, 16)
		h, err := Read(r)
		if err != nil {
			if len(in) == 0 && err == io.EOF {
				return
			}
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("error %v does not wrap ErrHeader", err)
			}
			return
		}
		if h.Version != 1 && h.Version != 2 {
			t.Fatalf("version %d", h.Version)
		}
		if !h.Local && (!h.Source.IsValid() || !h.Dest.IsValid() || h.Source.Addr().Is4In6()) {
			t.Fatalf("header %+v has bad addresses", h)
		}
		rest, _ := io.ReadAll(r)
		if !bytes.HasSuffix(in, rest) || len(in)-len(rest) > 16+65535 {
			t.Fatalf("%d bytes left of %d", len(rest), len(in))
		}
	})
}
