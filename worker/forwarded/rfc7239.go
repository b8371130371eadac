package forwarded

import "strings"

// parseForwarded parses RFC 7239 Forwarded header lines into hops, one per
// element, in order. Of each element's pairs only for= (the node) and
// proto= are read; names are case-insensitive, values a token or a quoted
// string. for= is "ip", "ip:port", "[v6]" or "[v6]:port"; "unknown", an
// obfuscated identifier ("_hidden", also as a port) and anything malformed
// give a hop with no address. A line that does not parse from some point on
// (an unterminated quote, a pair with no "=") gives one addressless hop for
// the rest of it: it spoils only the hops to its left in the walk, never a
// proxy's later line.
func parseForwarded(lines []string) []hop {
	var hops []hop
	for _, l := range lines {
		hops = parseLine(l, hops)
	}
	return hops
}

func parseLine(s string, hops []hop) []hop {
	cur, seen := hop{}, false
	end := func() {
		hops = append(hops, cur)
		cur, seen = hop{}, false
	}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			if seen {
				end()
			}
			return hops
		}
		switch s[0] {
		case ',':
			end()
			s = s[1:]
			continue
		case ';':
			seen = true
			s = s[1:]
			continue
		}
		name, value, rest, ok := pair(s)
		if !ok {
			return append(hops, hop{})
		}
		seen = true
		switch strings.ToLower(name) {
		case "for":
			h := parseFor(value)
			cur.addr, cur.port = h.addr, h.port
		case "proto":
			cur.scheme = scheme(value)
		}
		s = rest
	}
}

// pair reads token "=" (token / quoted-string) from the start of s.
func pair(s string) (name, value, rest string, ok bool) {
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	if i == 0 || i == len(s) || s[i] != '=' {
		return "", "", "", false
	}
	name, s = s[:i], s[i+1:]
	if s != "" && s[0] == '"' {
		var b strings.Builder
		for j := 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				return name, b.String(), s[j+1:], true
			case c == '\\' && j+1 < len(s):
				j++
				b.WriteByte(s[j])
			case c < 0x20 && c != '\t' || c == 0x7f:
				return "", "", "", false
			default:
				b.WriteByte(c)
			}
		}
		return "", "", "", false
	}
	j := 0
	for j < len(s) && isTchar(s[j]) {
		j++
	}
	if j == 0 {
		return "", "", "", false
	}
	return name, s[:j], s[j:], true
}

// parseFor parses a for= node (RFC 7239 §6): nodename [":" node-port].
func parseFor(v string) hop {
	if strings.EqualFold(v, "unknown") || strings.HasPrefix(v, "_") {
		return hop{}
	}
	host, p := v, ""
	if strings.HasPrefix(v, "[") {
		if i := strings.IndexByte(v, ']'); i >= 0 {
			host, p = v[:i+1], v[i+1:]
		}
	} else if i := strings.IndexByte(v, ':'); i >= 0 {
		host, p = v[:i], v[i:]
	}
	h := parseNode(host, true)
	if !h.addr.IsValid() {
		return hop{}
	}
	if p != "" {
		n, ok := port(strings.TrimPrefix(p, ":"))
		switch {
		case strings.HasPrefix(p, ":_"): // obfuscated port: the address stands
		case !strings.HasPrefix(p, ":") || !ok:
			return hop{}
		default:
			h.port = n
		}
	}
	return h
}

// isTchar reports whether c is an RFC 9110 token character.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
