package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheckAddress(t *testing.T) {
	long := "unix:/" + strings.Repeat("s", maxUnixPath)
	tests := []struct {
		addr    string
		wantErr string // substring; "" means valid
	}{
		{"127.0.0.1:8000", ""},
		{"0.0.0.0:0", ""},
		{"[::1]:8000", ""},
		{"[::]:80", ""},
		{"[fe80::1%eth0]:80", ""},
		{"localhost:65535", ""},
		{"api.example.com.:443", ""},
		{"my_service:80", ""},
		{"unix:/run/arbiter.sock", ""},
		{long[:len(long)-1], ""},
		{"fd://3", ""},
		{"fd://100", ""},
		{"", "want \"host:port\""},
		{"localhost", "want \"host:port\""},
		{"::1:80", "want \"host:port\""},
		{"127.0.0.1:65536", "the port must be a number from 0 to 65535"},
		{"127.0.0.1:http", "the port must be a number from 0 to 65535"},
		{"127.0.0.1:+80", "the port must be a number from 0 to 65535"},
		{":8000", "the host is empty"},
		{"[127.0.0.1]:80", "brackets are only for IPv6"},
		{"[localhost]:80", "is not an IPv6 address"},
		{"1.2.3:80", "neither an IP address nor a host name"},
		{"256.1.1.1:80", "neither an IP address nor a host name"},
		{"-bad.example:80", "neither an IP address nor a host name"},
		{"a..b:80", "neither an IP address nor a host name"},
		{"tcp://127.0.0.1:80", "want \"host:port\""},
		{"unix:", "the socket path is empty"},
		{"unix:rel.sock", "must be absolute"},
		{"unix:/a\x00b", "NUL"},
		{long, fmt.Sprintf("the limit is %d", maxUnixPath)},
		{"fd://2", "at least 3"},
		{"fd://", "at least 3"},
		{"fd://+3", "at least 3"},
		{"fd://99999999999999999999", "at least 3"},
	}
	for _, tt := range tests {
		err := checkAddress(tt.addr)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("checkAddress(%q) = %v, want nil", tt.addr, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("checkAddress(%q) = %v, want an error containing %q", tt.addr, err, tt.wantErr)
		}
	}
}

// collector is a reporter that keeps "key: msg" lines.
type collector []string

func (c *collector) problem(key, msg string) { *c = append(*c, key+": "+msg) }
func (c *collector) where(key string) string { return key }

func TestValidateConfigOnly(t *testing.T) {
	// A Config built in code, not read from a file: invariants a file can
	// never break (relative paths, no listener) are still checked.
	c := defaults()
	c.Workers = 1
	c.Pidfile = "rel.pid"
	c.Log.AccessLog = "access.log"
	c.App.Root = "www"
	var got collector
	validate(c, &got)
	want := collector{
		`pidfile: must be an absolute path, got "rel.pid"`,
		`log.access_log: must be an absolute path, got "access.log"`,
		`listen: at least one listener is required`,
		`app.root: must be an absolute path, got "www"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
