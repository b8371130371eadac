package config

import (
	"slices"
	"strings"
	"testing"
)

func TestForwardedAllowIPsAndProxyProtocol(t *testing.T) {
	c, err := Parse("app.toml", []byte("workers = 1\n"), Overrides{}, env())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ForwardedAllowIPs, []string{"127.0.0.1", "::1"}) || c.Listen[0].ProxyProtocol {
		t.Errorf("defaults: forwarded_allow_ips %q, proxy_protocol %v", c.ForwardedAllowIPs, c.Listen[0].ProxyProtocol)
	}
	for _, tt := range []struct {
		toml string
		want []string
	}{
		{`forwarded_allow_ips = ["10.0.0.0/8", "fd00::/8", "192.0.2.1"]`, []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1"}},
		{`forwarded_allow_ips = "*"`, []string{"*"}},
		{`forwarded_allow_ips = "127.0.0.1, 10.0.0.1"`, []string{"127.0.0.1", "10.0.0.1"}}, // gunicorn's form
		{`forwarded_allow_ips = []`, []string{}},                                           // unix-socket peers only
	} {
		c, err := Parse("app.toml", []byte(tt.toml+"\n[[listen]]\naddress = \"127.0.0.1:8000\"\nproxy_protocol = true\n"), Overrides{}, env())
		if err != nil {
			t.Errorf("%s: %v", tt.toml, err)
			continue
		}
		if !slices.Equal(c.ForwardedAllowIPs, tt.want) || !c.Listen[0].ProxyProtocol {
			t.Errorf("%s: got %q, proxy_protocol %v", tt.toml, c.ForwardedAllowIPs, c.Listen[0].ProxyProtocol)
		}
	}
	for _, tt := range []struct{ toml, want string }{
		{`forwarded_allow_ips = ["127.0.0.1", "10.0.0.0/33"]`, `app.toml:1:37: forwarded_allow_ips[1]: "10.0.0.0/33" is not an IP or CIDR`},
		{`forwarded_allow_ips = ["example.com"]`, `app.toml:1:24: forwarded_allow_ips[0]: "example.com" is not an IP or CIDR`},
		{`forwarded_allow_ips = "127.0.0.1,nope"`, `app.toml:1:1: forwarded_allow_ips[1]: "nope" is not an IP or CIDR`},
		{`forwarded_allow_ips = 1`, `app.toml:1:23: forwarded_allow_ips: must be an array of strings`},
		{"[[listen]]\naddress = \"127.0.0.1:8000\"\nproxy_protocol = \"yes\"", `app.toml:3:18: listen[0].proxy_protocol: must be true or false`},
	} {
		_, err := Parse("app.toml", []byte(tt.toml), Overrides{}, env())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.toml, err, tt.want)
		}
	}
}
