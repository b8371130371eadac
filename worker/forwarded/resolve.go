package forwarded

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Result is what a trusted chain of proxies says about the client.
type Result struct {
	// Addr is the client's address; invalid when the headers name no
	// usable one (then the peer's address stands).
	Addr netip.Addr
	// Port is the client's port when the Forwarded element gave one
	// (X-Forwarded-For may too, "ip:port"); 0 when none did.
	Port uint16
	// Scheme is "http" or "https" when a trusted header said which; "" when
	// none did (then the connection's own scheme stands).
	Scheme string
}

// RemoteAddr is the client's address in http.Request.RemoteAddr's form:
// "ip:port" ("[v6]:port") with a port, the bare IP without one, "" when
// Addr is invalid.
func (r Result) RemoteAddr() string {
	switch {
	case !r.Addr.IsValid():
		return ""
	case r.Port != 0:
		return netip.AddrPortFrom(r.Addr, r.Port).String()
	}
	return r.Addr.String()
}

// hop is one entry of a forwarding chain, the leftmost the farthest.
type hop struct {
	addr   netip.Addr // invalid: "unknown", an obfuscated name, garbage
	port   uint16
	scheme string // from Forwarded proto=, "" when absent or not http/https
}

// Resolve reads the forwarding headers of a request from peer remoteAddr.
// It returns ok false, and the headers must be left as mere headers, when
// the peer is not trusted or sent none of them.
//
// The chain is X-Forwarded-For when the request has one (every such header
// line in order, comma-separated entries), else Forwarded (RFC 7239, for=
// and proto=). Only one of the two is read: a proxy that sets the other
// must remove the one arbiter reads, or a client could supply it
// (docs/proxies.md).
//
// The walk starts at the trusted peer and goes right to left: an entry
// that is a trusted address is another proxy of ours and the walk goes on;
// the first entry that is an untrusted address is the client. An entry
// with no usable address ("unknown", "_obfuscated", garbage) ends the walk
// at the entry before it (the nearest trusted proxy, which vouches only for
// that); when it is the rightmost one the address is unchanged. When every
// entry is trusted the leftmost is the client.
//
// The scheme is the chosen Forwarded element's proto= (the rightmost's when
// none was chosen) when it has one;
// else X-Forwarded-Proto's entry at the chosen index when it has exactly
// one entry per X-Forwarded-For hop, else its last entry. Values other
// than http and https (any case) are ignored.
func (t *Trust) Resolve(remoteAddr string, h http.Header) (Result, bool) {
	xff, fwd, xfp := h["X-Forwarded-For"], h["Forwarded"], h["X-Forwarded-Proto"]
	if len(xff) == 0 && len(fwd) == 0 && len(xfp) == 0 || !t.Peer(remoteAddr) {
		return Result{}, false
	}
	var hops []hop
	if len(xff) > 0 {
		hops = parseXFF(xff)
	} else {
		hops = parseForwarded(fwd)
	}
	var res Result
	i := t.walk(hops)
	switch {
	case i >= 0:
		res.Addr, res.Port, res.Scheme = hops[i].addr, hops[i].port, hops[i].scheme
	case len(hops) > 0:
		res.Scheme = hops[len(hops)-1].scheme // for=unknown;proto=https
	}
	if res.Scheme == "" && len(xfp) > 0 {
		protos := splitList(xfp)
		switch {
		case len(xff) > 0 && i >= 0 && len(protos) == len(hops):
			res.Scheme = scheme(protos[i])
		case len(protos) > 0:
			res.Scheme = scheme(protos[len(protos)-1])
		}
	}
	return res, res.Addr.IsValid() || res.Scheme != ""
}

// walk returns the index of the client's hop, or -1 when the rightmost hop
// has no address (or there is none).
func (t *Trust) walk(hops []hop) int {
	for i := len(hops) - 1; i >= 0; i-- {
		switch {
		case !hops[i].addr.IsValid():
			if i == len(hops)-1 {
				return -1
			}
			return i + 1
		case !t.Contains(hops[i].addr) || i == 0:
			return i
		}
	}
	return -1
}

// parseXFF splits X-Forwarded-For lines into hops. An entry is an IP,
// "[v6]", "ip:port" or "[v6]:port"; anything else is a hop with no address.
func parseXFF(lines []string) []hop {
	entries := splitList(lines)
	hops := make([]hop, len(entries))
	for i, e := range entries {
		hops[i] = parseNode(e, false)
	}
	return hops
}

// splitList splits comma-separated header lines into trimmed entries,
// keeping empty ones (an empty entry is a hop with no address).
func splitList(lines []string) []string {
	var out []string
	for _, l := range lines {
		for e := range strings.SplitSeq(l, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// parseNode parses an address with an optional port. bracketsOnly (RFC
// 7239) requires IPv6 in brackets; X-Forwarded-For also takes it bare.
// Zones are refused: a zone names an interface of the sender's host.
func parseNode(s string, bracketsOnly bool) hop {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return hop{addr: ap.Addr().Unmap(), port: ap.Port()}
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() && a.Zone() == "" {
			return hop{addr: a.Unmap()}
		}
		return hop{}
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" && (a.Is4() || !bracketsOnly) {
		return hop{addr: a.Unmap()}
	}
	return hop{}
}

func scheme(s string) string {
	switch {
	case strings.EqualFold(s, "https"):
		return "https"
	case strings.EqualFold(s, "http"):
		return "http"
	}
	return ""
}

// port parses a decimal port 1-65535 of at most 5 digits.
func port(s string) (uint16, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || s[0] == '+' {
		return 0, false
	}
	return uint16(n), true
}
