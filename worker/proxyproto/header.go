// Package proxyproto reads the PROXY protocol header (haproxy's
// proxy-protocol.txt, versions 1 and 2) that a load balancer sends first
// on a connection to say who the client is, and wraps a listener so that
// the servers behind it see that client as the connection's remote
// address.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ErrHeader is wrapped by every error about the header's bytes (missing,
// malformed, unsupported), as opposed to a read error.
var ErrHeader = errors.New("bad PROXY protocol header")

// sigV2 starts every version 2 header.
var sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV1 is the longest version 1 line, CRLF included.
const maxV1 = 107

// Header is a parsed PROXY header.
type Header struct {
	Version int // 1 or 2
	// Local is true when the header names no client and the connection's
	// own peer stands: v2 LOCAL (the balancer's health check), v1 UNKNOWN,
	// v2 AF_UNSPEC and AF_UNIX.
	Local bool
	// Source is the client and Dest the address it connected to; valid
	// only when Local is false.
	Source, Dest netip.AddrPort
}

// Read reads one PROXY header from the start of r, and nothing after it.
// A connection that does not start with one, or a header that is
// malformed, is an error wrapping ErrHeader; v2 TLVs are skipped unread.
func Read(r *bufio.Reader) (Header, error) {
	b, err := r.Peek(1)
	if err != nil {
		return Header{}, err
	}
	switch b[0] {
	case 'P':
		return readV1(r)
	case '\r':
		return readV2(r)
	}
	return Header{}, fmt.Errorf("%w: none (the connection starts with %q)", ErrHeader, peekSome(r))
}

// peekSome returns what is already buffered, up to 16 bytes, for an error.
func peekSome(r *bufio.Reader) []byte {
	b, _ := r.Peek(min(r.Buffered(), 16))
	return b
}

func readV1(r *bufio.Reader) (Header, error) {
	line := make([]byte, 0, maxV1)
	for {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Header{}, fmt.Errorf("%w: v1 line ends early (%q)", ErrHeader, line)
			}
			return Header{}, err
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) == 6 && string(line) != "PROXY " {
			return Header{}, fmt.Errorf("%w: none (the connection starts with %q)", ErrHeader, line)
		}
		if len(line) >= maxV1 {
			return Header{}, fmt.Errorf("%w: v1 line longer than %d bytes", ErrHeader, maxV1)
		}
	}
	h, err := parseV1(line)
	if err != nil {
		return Header{}, fmt.Errorf("%w: v1 %q: %s", ErrHeader, line, err)
	}
	return h, nil
}

// parseV1 parses "PROXY TCP4|TCP6 src dst sport dport\r\n" or
// "PROXY UNKNOWN...\r\n" (whatever follows UNKNOWN is ignored).
func parseV1(line []byte) (Header, error) {
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return Header{}, errors.New("does not end in CRLF")
	}
	s, ok = strings.CutPrefix(s, "PROXY ")
	if !ok {
		return Header{}, errors.New(`does not start with "PROXY "`)
	}
	if s == "UNKNOWN" || strings.HasPrefix(s, "UNKNOWN ") {
		return Header{Version: 1, Local: true}, nil
	}
	f := strings.Split(s, " ")
	if len(f) != 5 {
		return Header{}, errors.New("want PROXY TCP4|TCP6 src dst sport dport")
	}
	var want4 bool
	switch f[0] {
	case "TCP4":
		want4 = true
	case "TCP6":
	default:
		return Header{}, fmt.Errorf("unknown protocol %q", f[0])
	}
	var addrs [2]netip.Addr
	var ports [2]uint16
	for i := range 2 {
		a, err := netip.ParseAddr(f[1+i])
		if err != nil || a.Zone() != "" || a.Is4() != want4 {
			return Header{}, fmt.Errorf("bad %s address %q", f[0], f[1+i])
		}
		p, ok := portV1(f[3+i])
		if !ok {
			return Header{}, fmt.Errorf("bad port %q", f[3+i])
		}
		addrs[i], ports[i] = a, p
	}
	return Header{Version: 1, Source: netip.AddrPortFrom(addrs[0], ports[0]), Dest: netip.AddrPortFrom(addrs[1], ports[1])}, nil
}

// portV1 parses a decimal port 0-65535 with no sign or leading zero.
func portV1(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || s[0] < '0' || s[0] > '9' || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

func readV2(r *bufio.Reader) (Header, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, fmt.Errorf("%w: v2 header ends early", ErrHeader)
		}
		return Header{}, err
	}
	if !bytes.Equal(hdr[:12], sigV2) {
		return Header{}, fmt.Errorf("%w: none (the connection starts with %q)", ErrHeader, hdr[:])
	}
	if v := hdr[12] >> 4; v != 2 {
		return Header{}, fmt.Errorf("%w: v2 signature with version %d", ErrHeader, v)
	}
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, fmt.Errorf("%w: v2 header ends before its %d bytes of addresses", ErrHeader, n)
		}
		return Header{}, err
	}
	h, err := parseV2(hdr[12], hdr[13], body)
	if err != nil {
		return Header{}, fmt.Errorf("%w: v2: %s", ErrHeader, err)
	}
	return h, nil
}

// parseV2 decodes the command, the family and the address block; what
// follows the addresses (TLVs) is ignored.
func parseV2(verCmd, fam byte, body []byte) (Header, error) {
	switch verCmd & 0xf {
	case 0: // LOCAL: the balancer's own connection, the addresses are to be ignored
		return Header{Version: 2, Local: true}, nil
	case 1: // PROXY
	default:
		return Header{}, fmt.Errorf("unknown command %#x", verCmd&0xf)
	}
	if tp := fam & 0xf; tp != 0 && tp != 1 {
		return Header{}, fmt.Errorf("transport %#x is not a stream", tp)
	}
	var size int
	switch fam >> 4 {
	case 0, 3: // AF_UNSPEC, AF_UNIX: no IP to show; the peer stands
		return Header{Version: 2, Local: true}, nil
	case 1:
		size = 4
	case 2:
		size = 16
	default:
		return Header{}, fmt.Errorf("unknown address family %#x", fam>>4)
	}
	if len(body) < 2*size+4 {
		return Header{}, fmt.Errorf("%d bytes of addresses, want %d", len(body), 2*size+4)
	}
	src, _ := netip.AddrFromSlice(body[:size])
	dst, _ := netip.AddrFromSlice(body[size : 2*size])
	sp := binary.BigEndian.Uint16(body[2*size:])
	dp := binary.BigEndian.Uint16(body[2*size+2:])
	return Header{Version: 2, Source: netip.AddrPortFrom(src.Unmap(), sp), Dest: netip.AddrPortFrom(dst.Unmap(), dp)}, nil
}
