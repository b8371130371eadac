package cgivars

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
)

// EachHeaderVar calls fn with the HTTP_* variable of each request header, as
// RFC 3875 §4.1.18 says: the name upper-cased with "-" mapped to "_"
// (without the HTTP_ prefix in name), repeated headers joined with ", "
// ("; " for Cookie). HOST comes from r.Host. A header whose name has
// anything but letters, digits and "-" is skipped, so that "X_Foo" cannot
// pose as "X-Foo" (Apache's rule), and so is a value with a NUL. Which
// headers an application passes on is the caller's choice (see
// DroppedHeaderVar).
func EachHeaderVar(r *http.Request, fn func(name, value string)) {
	if r.Host != "" && strings.IndexByte(r.Host, 0) < 0 {
		fn("HOST", r.Host)
	}
	for k, vv := range r.Header {
		if len(vv) == 0 {
			continue
		}
		name, ok := headerVarName(k)
		if !ok || name == "HOST" {
			continue
		}
		v := vv[0]
		if len(vv) > 1 {
			sep := ", "
			if name == "COOKIE" {
				sep = "; "
			}
			v = strings.Join(vv, sep)
		}
		if strings.IndexByte(v, 0) >= 0 {
			continue
		}
		fn(name, v)
	}
}

// DroppedHeaderVar reports whether the header variable name (without HTTP_)
// never reaches an application: PROXY (httpoxy), PROXY_AUTHORIZATION, and
// CONTENT_LENGTH, CONTENT_TYPE and TRANSFER_ENCODING, which the CONTENT_*
// variables replace.
func DroppedHeaderVar(name string) bool {
	switch name {
	case "PROXY", "PROXY_AUTHORIZATION", "CONTENT_LENGTH", "CONTENT_TYPE", "TRANSFER_ENCODING":
		return true
	}
	return false
}

// commonVarNames saves an allocation for the headers most requests carry.
var commonVarNames = func() map[string]string {
	m := map[string]string{}
	for _, h := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Cookie", "Dnt", "If-Modified-Since", "If-None-Match", "Origin", "Pragma", "Referer",
		"Upgrade-Insecure-Requests", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
		"X-Real-Ip", "X-Requested-With", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Content-Length",
		"Content-Type", "Transfer-Encoding", "Keep-Alive", "Te", "Range", "If-Range", "Expect"} {
		m[h] = strings.ToUpper(strings.ReplaceAll(h, "-", "_"))
	}
	return m
}()

// headerVarName maps a header name to its variable name without HTTP_;
// false when the name has anything but letters, digits and "-".
func headerVarName(k string) (string, bool) {
	if n, ok := commonVarNames[k]; ok {
		return n, true
	}
	if k == "" {
		return "", false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return "", false
		}
	}
	return strings.ToUpper(strings.ReplaceAll(k, "-", "_")), true
}

// ServerAddr returns SERVER_NAME, SERVER_PORT and SERVER_ADDR: the name from
// Host (without its port; an IPv6 address in brackets), else the local
// address; the port the connection came in on, else Host's, else the
// scheme's default; and the local IP address, "" on a unix socket.
func ServerAddr(r *http.Request, https bool) (name, port, addr string) {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la != nil {
		addr, port = localAddr(la)
	}
	host, hport := r.Host, ""
	if h, p, err := net.SplitHostPort(r.Host); err == nil {
		host, hport = h, p
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		host = addr
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		port = hport
	}
	if port == "" {
		port = "80"
		if https {
			port = "443"
		}
	}
	return host, port, addr
}

// SplitAddr splits "ip:port"; anything else (a unix socket peer, "@") is
// returned whole, without a port.
func SplitAddr(a string) (host, port string) {
	if h, p, err := net.SplitHostPort(a); err == nil {
		return h, p
	}
	return a, ""
}

// localAddrs holds the SERVER_ADDR and SERVER_PORT of the TCP addresses
// connections came in on, by address: a worker has a few of them, and
// formatting one for every request was 1–2 % of a WSGI worker's CPU. It
// stops growing at about maxLocalAddrs (a listener on a wildcard address
// of a host with that many IP addresses; goroutines adding at once may
// pass it by one each); the others are formatted each time.
var (
	localAddrs  sync.Map // netip.AddrPort → [2]string
	nLocalAddrs atomic.Int32
)

const maxLocalAddrs = 256

// localAddr splits the local address la into IP and port; "", "" for one
// that has no port (a unix socket).
func localAddr(la net.Addr) (addr, port string) {
	ta, ok := la.(*net.TCPAddr)
	var key netip.AddrPort
	if ok {
		key = ta.AddrPort()
		if v, ok := localAddrs.Load(key); ok {
			ap := v.([2]string)
			return ap[0], ap[1]
		}
	}
	if a, p, err := net.SplitHostPort(la.String()); err == nil {
		addr, port = a, p
	}
	if ok && nLocalAddrs.Load() < maxLocalAddrs {
		if _, loaded := localAddrs.LoadOrStore(key, [2]string{addr, port}); !loaded {
			nLocalAddrs.Add(1)
		}
	}
	return addr, port
}
