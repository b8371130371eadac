// Package forwarded decides who the client is when a request came through
// proxies: it reads X-Forwarded-For, X-Forwarded-Proto and RFC 7239
// Forwarded, but only when the peer that sent them is trusted
// (forwarded_allow_ips), and walks the chain of hops from the right, the
// nearest hop first, to the rightmost one that is not a trusted proxy.
//
// It parses and decides; it changes no request. The worker applies the
// result to what apps see (docs/proxies.md).
package forwarded

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Trust is the set of peers whose forwarding headers are believed: IPs and
// CIDR prefixes, or every peer ("*"). Unix-socket peers are always trusted,
// as gunicorn trusts them: only a process on this host that may open the
// socket file can connect. The zero Trust trusts unix-socket peers only.
type Trust struct {
	all      bool
	prefixes []netip.Prefix
}

// ParseTrust builds a Trust from forwarded_allow_ips entries: "*", an IP
// ("127.0.0.1", "::1") or a CIDR ("10.0.0.0/8", "fd00::/8"). An IPv4-mapped
// IPv6 entry is taken as the IPv4 one. An empty list trusts unix-socket
// peers only. The error names the first entry that is none of these.
func ParseTrust(entries []string) (*Trust, error) {
	t := &Trust{}
	for _, e := range entries {
		s := strings.TrimSpace(e)
		switch {
		case s == "*":
			t.all = true
		case strings.Contains(s, "/"):
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP or CIDR (like \"10.0.0.0/8\"): %w", e, err)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			t.prefixes = append(t.prefixes, p.Masked())
		default:
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not an IP or CIDR (like \"10.0.0.0/8\")", e)
			}
			a = a.Unmap()
			t.prefixes = append(t.prefixes, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return t, nil
}

// Contains reports whether ip is trusted. IPv4-mapped IPv6 addresses match
// IPv4 entries.
func (t *Trust) Contains(ip netip.Addr) bool {
	if t.all {
		return true
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer reports whether a request's peer, as in http.Request.RemoteAddr, is
// trusted. "host:port" and a bare IP are looked up in the set. A unix-socket
// peer ("", "@", "unix:..." — what Go and front ends show for one) is
// trusted. Anything else is not.
func (t *Trust) Peer(remoteAddr string) bool {
	if ip, ok := parsePeer(remoteAddr); ok {
		return t.Contains(ip)
	}
	return remoteAddr == "" || remoteAddr == "@" || strings.HasPrefix(remoteAddr, "unix:")
}

func parsePeer(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(h); err == nil {
			return a, true
		}
	}
	return netip.Addr{}, false
}
