package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header: command, family byte, address block and
// TLV bytes.
func v2(cmd, fam byte, addrs []byte, tlvs ...byte) []byte {
	b := append([]byte{}, sigV2...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	b = append(b, addrs...)
	return append(b, tlvs...)
}

func inet(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	b := append(s.AsSlice(), d.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, sp)
	return binary.BigEndian.AppendUint16(b, dp)
}

func TestRead(t *testing.T) {
	const after = "GET / HTTP/1.1\r\n"
	cases := []struct {
		name    string
		in      []byte
		want    Header
		wantErr string // substring; "" = no error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"),
			Header{Version: 1, Source: netip.MustParseAddrPort("192.0.2.1:56324"), Dest: netip.MustParseAddrPort("198.51.100.2:443")}, ""},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"),
			Header{Version: 1, Source: netip.MustParseAddrPort("[2001:db8::1]:65535"), Dest: netip.MustParseAddrPort("[2001:db8::2]:0")}, ""},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}, ""},
		{"v1 unknown with junk", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), Header{Version: 1, Local: true}, ""},
		{"v1 tcp4 with v6 address", []byte("PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n"), Header{}, "bad TCP4 address"},
		{"v1 tcp6 with v4 address", []byte("PROXY TCP6 192.0.2.1 2001:db8::1 1 2\r\n"), Header{}, "bad TCP6 address"},
		{"v1 port too big", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 65536 80\r\n"), Header{}, "bad port"},
		{"v1 port leading zero", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 080 80\r\n"), Header{}, "bad port"},
		{"v1 port sign", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 +80 80\r\n"), Header{}, "bad port"},
		{"v1 double space", []byte("PROXY TCP4  192.0.2.1 192.0.2.2 1 80\r\n"), Header{}, "want PROXY"},
		{"v1 bare LF", []byte("PROXY TCP4 192.0.2.1 192.0.2.2 1 80\n"), Header{}, "CRLF"},
		{"v1 unknown protocol", []byte("PROXY UDP4 192.0.2.1 192.0.2.2 1 80\r\n"), Header{}, "unknown protocol"},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 80\r\n"), Header{}, "bad TCP6 address"},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("x", 200) + "\r\n"), Header{}, "longer than 107"},
		{"v1 cut short", []byte("PROXY TCP4 192.0.2.1"), Header{}, "ends early"},
		{"no header: http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Header{}, `none (the connection starts with "GET / HTTP/1.1\r\n")`},
		{"no header: P", []byte("POST / HTTP/1.1\r\n\r\n"), Header{}, `none (the connection starts with "POST /")`},
		{"no header: fastcgi", []byte{1, 1, 0, 1, 0, 8, 0, 0}, Header{}, "none"},

		{"v2 tcp4", v2(1, 0x11, inet("192.0.2.1", "198.51.100.2", 56324, 443)),
			Header{Version: 2, Source: netip.MustParseAddrPort("192.0.2.1:56324"), Dest: netip.MustParseAddrPort("198.51.100.2:443")}, ""},
		{"v2 tcp6", v2(1, 0x21, inet("2001:db8::1", "2001:db8::2", 1, 2)),
			Header{Version: 2, Source: netip.MustParseAddrPort("[2001:db8::1]:1"), Dest: netip.MustParseAddrPort("[2001:db8::2]:2")}, ""},
		{"v2 tcp6 mapped v4", v2(1, 0x21, inet("::ffff:192.0.2.1", "::ffff:192.0.2.2", 1, 2)),
			Header{Version: 2, Source: netip.MustParseAddrPort("192.0.2.1:1"), Dest: netip.MustParseAddrPort("192.0.2.2:2")}, ""},
		{"v2 with TLVs skipped", v2(1, 0x11, inet("192.0.2.1", "192.0.2.2", 1, 2), 0x01, 0, 2, 'h', '2', 0x04, 0, 3, 0, 0, 0),
			Header{Version: 2, Source: netip.MustParseAddrPort("192.0.2.1:1"), Dest: netip.MustParseAddrPort("192.0.2.2:2")}, ""},
		{"v2 with a TLV claiming more than there is", v2(1, 0x11, inet("192.0.2.1", "192.0.2.2", 1, 2), 0x01, 0xff, 0xff),
			Header{Version: 2, Source: netip.MustParseAddrPort("192.0.2.1:1"), Dest: netip.MustParseAddrPort("192.0.2.2:2")}, ""},
		{"v2 local", v2(0, 0x00, nil), Header{Version: 2, Local: true}, ""},
		{"v2 local with addresses", v2(0, 0x11, inet("192.0.2.1", "192.0.2.2", 1, 2)), Header{Version: 2, Local: true}, ""},
		{"v2 unspec", v2(1, 0x00, nil), Header{Version: 2, Local: true}, ""},
		{"v2 unix", v2(1, 0x31, make([]byte, 216)), Header{Version: 2, Local: true}, ""},
		{"v2 udp", v2(1, 0x12, inet("192.0.2.1", "192.0.2.2", 1, 2)), Header{}, "not a stream"},
		{"v2 short address block", v2(1, 0x21, make([]byte, 20)), Header{}, "20 bytes of addresses, want 36"},
		{"v2 bad family", v2(1, 0x41, nil), Header{}, "unknown address family"},
		{"v2 bad command", v2(2, 0x11, inet("192.0.2.1", "192.0.2.2", 1, 2)), Header{}, "unknown command"},
		{"v2 bad version", append(append([]byte{}, sigV2...), 0x31, 0x11, 0, 0), Header{}, "version 3"},
		{"v2 cut short", v2(1, 0x11, inet("192.0.2.1", "192.0.2.2", 1, 2))[:20], Header{}, "ends before its 12 bytes"},
		{"v2 signature cut short", sigV2[:8], Header{}, "ends early"},
		{"v2 bad signature", []byte("\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x00"), Header{}, "none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := bufio.NewReader(io.MultiReader(bytes.NewReader(c.in), strings.NewReader(after)))
			if c.wantErr != "" {
				r = bufio.NewReader(bytes.NewReader(c.in))
			}
			h, err := Read(r)
			if c.wantErr != "" {
				if err == nil || !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want ErrHeader with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h != c.want {
				t.Fatalf("header = %+v, want %+v", h, c.want)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != after {
				t.Fatalf("after the header: %q, want %q (read too much or too little)", rest, after)
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"v1", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")},
		{"v2", v2(1, 0x11, inet("192.0.2.1", "198.51.100.2", 56324, 443))},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := bytes.NewReader(c.in)
			r := bufio.NewReaderSize(src, 256)
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(c.in)
				r.Reset(src)
				if _, err := Read(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
