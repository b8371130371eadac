package forwarded

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzResolve checks, for any peer and header values, that Resolve does
// not panic, never trusts an untrusted peer, and names only a client
// address that is written in one of the headers it read.
func FuzzResolve(f *testing.F) {
	f.Add("127.0.0.1:1", "203.0.113.7, 10.1.1.1", "", "https")
	f.Add("127.0.0.1:1", "", `for="[2001:db8::1]:4711";proto=https, for=_x`, "")
	f.Add("198.51.100.1:1", "1.1.1.1", "for=1.1.1.1", "https")
	tr := mustTrust(f, "127.0.0.1", "10.0.0.0/8", "fd00::/8")
	f.Fuzz(func(t *testing.T, peer, xff, fwd, xfp string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Forwarded-For": xff, "Forwarded": fwd, "X-Forwarded-Proto": xfp} {
			if v != "" {
				h[k] = strings.Split(v, "\n")
			}
		}
		res, ok := tr.Resolve(peer, h)
		if !ok {
			if res != (Result{}) {
				t.Fatalf("not ok but a result %+v", res)
			}
			return
		}
		if !tr.Peer(peer) {
			t.Fatalf("trusted untrusted peer %q", peer)
		}
		if res.Scheme != "" && res.Scheme != "http" && res.Scheme != "https" {
			t.Fatalf("scheme %q", res.Scheme)
		}
		if !res.Addr.IsValid() {
			return
		}
		if res.Addr.Zone() != "" || res.Addr.Is4In6() {
			t.Fatalf("address %v has a zone or is mapped", res.Addr)
		}
		src := xff
		if src == "" {
			src = fwd
		}
		if !mentions(src, res.Addr) {
			t.Fatalf("client %v is in no header (%q)", res.Addr, src)
		}
		if _, err := netip.ParseAddr(res.Addr.String()); err != nil {
			t.Fatalf("RemoteAddr %q does not parse back", res.RemoteAddr())
		}
	})
}

// mentions reports whether s holds a, in some textual form netip parses.
func mentions(s string, a netip.Addr) bool {
	isSep := func(r rune) bool { return strings.ContainsRune(" \t,;=\"[]\n", r) }
	for _, w := range strings.FieldsFunc(s, isSep) {
		for _, cand := range []string{w, strings.TrimSuffix(w, ":"+lastPart(w))} {
			if b, err := netip.ParseAddr(cand); err == nil && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}

func lastPart(w string) string {
	if i := strings.LastIndexByte(w, ':'); i >= 0 {
		return w[i+1:]
	}
	return ""
}
