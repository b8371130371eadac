package cgivars

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// ServerAddr's local address comes from a cache after the first request on
// it: the second answer must be the first, and both what the address
// itself says.
func TestServerAddrLocal(t *testing.T) {
	for _, tc := range []struct {
		name       string
		la         net.Addr
		addr, port string
	}{
		{"ipv4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 8081}, "127.0.0.1", "8081"},
		{"ipv4 in 16 bytes", &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 80}, "10.0.0.1", "80"},
		{"ipv6", &net.TCPAddr{IP: net.IPv6loopback, Port: 9000}, "::1", "9000"},
		{"ipv6 with a zone", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 9000, Zone: "eth0"}, "fe80::1%eth0", "9000"},
		{"same ip, other port", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 8082}, "127.0.0.1", "8082"},
		{"unix socket: the scheme's port", &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}, "", "80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/", nil)
			r.Host = "www.example"
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tc.la))
			for i := range 2 {
				name, port, addr := ServerAddr(r, false)
				if name != "www.example" || addr != tc.addr || port != tc.port {
					t.Fatalf("call %d: ServerAddr = %q, %q, %q; want www.example, %q, %q", i+1, name, port, addr, tc.port, tc.addr)
				}
			}
		})
	}
}

// Past maxLocalAddrs addresses the cache stops growing, and the answers
// stay right.
func TestLocalAddrCacheBounded(t *testing.T) {
	for i := range maxLocalAddrs + 10 {
		la := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1).To4(), Port: 20000 + i}
		addr, port := localAddr(la)
		if addr != "192.0.2.1" || port != strconv.Itoa(20000+i) {
			t.Fatalf("localAddr(%v) = %q, %q", la, addr, port)
		}
	}
	if n := nLocalAddrs.Load(); n > maxLocalAddrs {
		t.Fatalf("%d addresses cached, more than %d", n, maxLocalAddrs)
	}
	n := 0
	localAddrs.Range(func(any, any) bool { n++; return true })
	if n > maxLocalAddrs {
		t.Fatalf("the cache holds %d addresses, more than %d", n, maxLocalAddrs)
	}
}
