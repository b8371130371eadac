package forwarded

import (
	"net/http"
	"testing"
)

func mustTrust(t testing.TB, entries ...string) *Trust {
	t.Helper()
	tr, err := ParseTrust(entries)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestParseTrust(t *testing.T) {
	tr := mustTrust(t, "127.0.0.1", " ::1 ", "10.0.0.0/8", "::ffff:192.168.0.0/112", "fd00::/8")
	for _, c := range []struct {
		peer string
		want bool
	}{
		{"127.0.0.1:5000", true},
		{"127.0.0.2:5000", false},
		{"[::1]:80", true},
		{"[::ffff:127.0.0.1]:80", true}, // IPv4-mapped matches the IPv4 entry
		{"10.200.3.4:1", true},
		{"11.0.0.1:1", false},
		{"192.168.7.7:1", true}, // the mapped CIDR is taken as 192.168.0.0/16
		{"[fd12::1]:1", true},
		{"[fe80::1%eth0]:1", false},
		{"10.1.2.3", true}, // a bare IP (a front end's REMOTE_ADDR without port)
		{"", true},         // unix-socket peers
		{"@", true},
		{"unix:/run/nginx.sock", true},
		{"garbage", false},
		{"garbage:80", false},
	} {
		if got := tr.Peer(c.peer); got != c.want {
			t.Errorf("Peer(%q) = %v, want %v", c.peer, got, c.want)
		}
	}
	if !mustTrust(t, "*").Peer("203.0.113.9:4") {
		t.Error(`"*" does not trust every peer`)
	}
	if (&Trust{}).Peer("127.0.0.1:1") || !(&Trust{}).Peer("@") {
		t.Error("the zero Trust must trust unix-socket peers only")
	}
	for _, bad := range []string{"10.0.0.0/33", "300.1.1.1", "example.com", "", "10.0.0.1/", "fe80::1%eth0", "1.2.3.4:80"} {
		if _, err := ParseTrust([]string{"127.0.0.1", bad}); err == nil {
			t.Errorf("ParseTrust accepted %q", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	tr := mustTrust(t, "127.0.0.1", "10.0.0.0/8")
	const proxy = "127.0.0.1:40000"
	cases := []struct {
		name       string
		peer       string
		h          http.Header
		wantOK     bool
		wantAddr   string // Result.RemoteAddr()
		wantScheme string
	}{
		{"no headers", proxy, http.Header{}, false, "", ""},
		{"one hop", proxy, http.Header{"X-Forwarded-For": {"203.0.113.7"}}, true, "203.0.113.7", ""},
		{"proto only", proxy, http.Header{"X-Forwarded-Proto": {"https"}}, true, "", "https"},
		{"proto case", proxy, http.Header{"X-Forwarded-Proto": {"HTTPS"}}, true, "", "https"},
		{"proto garbage", proxy, http.Header{"X-Forwarded-Proto": {"gopher"}}, false, "", ""},
		{"chain of our proxies", proxy, http.Header{"X-Forwarded-For": {"203.0.113.7, 10.1.1.1, 10.2.2.2"}}, true, "203.0.113.7", ""},
		{"every hop trusted: leftmost", proxy, http.Header{"X-Forwarded-For": {"10.9.9.9, 10.1.1.1"}}, true, "10.9.9.9", ""},
		{"ipv6 bare and bracketed", proxy, http.Header{"X-Forwarded-For": {"2001:db8::1, [2001:db8::2]"}}, true, "2001:db8::2", ""},
		{"xff with port", proxy, http.Header{"X-Forwarded-For": {"[2001:db8::1]:4711"}}, true, "[2001:db8::1]:4711", ""},
		{"ipv4-mapped is ipv4", proxy, http.Header{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, true, "203.0.113.7", ""},
		{"xff lines joined in order", proxy, http.Header{"X-Forwarded-For": {"198.51.100.1", "203.0.113.7"}}, true, "203.0.113.7", ""},
		{"xfp aligned with hops", proxy, http.Header{
			"X-Forwarded-For": {"203.0.113.7, 10.1.1.1"}, "X-Forwarded-Proto": {"https, http"}}, true, "203.0.113.7", "https"},
		{"xfp not aligned: last", proxy, http.Header{
			"X-Forwarded-For": {"203.0.113.7, 10.1.1.1"}, "X-Forwarded-Proto": {"https"}}, true, "203.0.113.7", "https"},

		// Spoofing.
		{"untrusted peer sends xff", "198.51.100.9:5555", http.Header{"X-Forwarded-For": {"1.1.1.1"}, "X-Forwarded-Proto": {"https"}}, false, "", ""},
		{"untrusted peer sends forwarded", "198.51.100.9:5555", http.Header{"Forwarded": {"for=1.1.1.1;proto=https"}}, false, "", ""},
		{"spoofed chain, trusted proxy appended", proxy, http.Header{
			"X-Forwarded-For": {"1.1.1.1, 127.0.0.1, 198.51.100.9"}}, true, "198.51.100.9", ""},
		{"spoofed chain on its own line", proxy, http.Header{
			"X-Forwarded-For": {"1.1.1.1, 10.0.0.1", "198.51.100.9"}}, true, "198.51.100.9", ""},
		{"spoofed forwarded, proxy appended", proxy, http.Header{
			"Forwarded": {`for=1.1.1.1;proto=https, for=198.51.100.9;proto=http`}}, true, "198.51.100.9", "http"},
		{"garbage before the proxy's hop", proxy, http.Header{"X-Forwarded-For": {"<script>, 198.51.100.9"}}, true, "198.51.100.9", ""},
		{"garbage as the proxy's hop", proxy, http.Header{"X-Forwarded-For": {"198.51.100.9, nonsense"}}, false, "", ""},
		{"garbage behind a trusted hop", proxy, http.Header{"X-Forwarded-For": {"nonsense, 10.1.1.1"}}, true, "10.1.1.1", ""},
		{"empty entry", proxy, http.Header{"X-Forwarded-For": {"1.1.1.1,, 10.1.1.1"}}, true, "10.1.1.1", ""},
		{"zone refused", proxy, http.Header{"X-Forwarded-For": {"fe80::1%eth0"}}, false, "", ""},
		{"xff wins over forwarded", proxy, http.Header{
			"X-Forwarded-For": {"203.0.113.7"}, "Forwarded": {"for=1.1.1.1"}}, true, "203.0.113.7", ""},
		{"unix-socket peer is trusted", "@", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, true, "203.0.113.7", ""},

		// RFC 7239.
		{"forwarded for and proto", proxy, http.Header{"Forwarded": {`for=192.0.2.60;proto=https;by=203.0.113.43`}}, true, "192.0.2.60", "https"},
		{"forwarded quoted ipv6 with port", proxy, http.Header{"Forwarded": {`For="[2001:db8:cafe::17]:4711"`}}, true, "[2001:db8:cafe::17]:4711", ""},
		{"forwarded unquoted ipv6 is malformed", proxy, http.Header{"Forwarded": {`for=[2001:db8::1]`}}, false, "", ""},
		{"forwarded unknown", proxy, http.Header{"Forwarded": {`for=unknown;proto=https`}}, true, "", "https"},
		{"forwarded obfuscated", proxy, http.Header{"Forwarded": {`for=_hidden, for=10.1.1.1`}}, true, "10.1.1.1", ""},
		{"forwarded obfuscated port", proxy, http.Header{"Forwarded": {`for="192.0.2.43:_p1"`}}, true, "192.0.2.43", ""},
		{"forwarded several lines", proxy, http.Header{"Forwarded": {`for=192.0.2.43`, `for=198.51.100.17;proto=https`}}, true, "198.51.100.17", "https"},
		{"forwarded element without for", proxy, http.Header{"Forwarded": {`proto=https`}}, true, "", "https"},
		{"forwarded unterminated quote spoils its own line only", proxy, http.Header{
			"Forwarded": {`for="1.1.1.1, for=2.2.2.2`, `for=198.51.100.9`}}, true, "198.51.100.9", ""},
		{"forwarded unterminated quote, nothing after", proxy, http.Header{"Forwarded": {`for=198.51.100.9, for="1.1.1.1`}}, false, "", ""},
		{"forwarded quoted comma", proxy, http.Header{"Forwarded": {`for=198.51.100.9;x="a,b"`}}, true, "198.51.100.9", ""},
		{"forwarded ipv6 not in brackets", proxy, http.Header{"Forwarded": {`for="2001:db8::1"`}}, false, "", ""},
		{"forwarded bad port", proxy, http.Header{"Forwarded": {`for="192.0.2.43:99999"`}}, false, "", ""},
		{"forwarded proto falls back to xfp", proxy, http.Header{"Forwarded": {`for=192.0.2.43`}, "X-Forwarded-Proto": {"https"}}, true, "192.0.2.43", "https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := tr.Resolve(c.peer, c.h)
			if ok != c.wantOK || got.RemoteAddr() != c.wantAddr || got.Scheme != c.wantScheme {
				t.Errorf("Resolve = %q %q %v, want %q %q %v", got.RemoteAddr(), got.Scheme, ok, c.wantAddr, c.wantScheme, c.wantOK)
			}
		})
	}
}

func BenchmarkResolve(b *testing.B) {
	tr := mustTrust(b, "127.0.0.1", "10.0.0.0/8", "fd00::/8")
	h := http.Header{
		"X-Forwarded-For":   {"203.0.113.7, 10.1.1.1, 10.2.2.2"},
		"X-Forwarded-Proto": {"https"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tr.Resolve("127.0.0.1:40000", h); !ok {
			b.Fatal("not resolved")
		}
	}
}
