package config

import (
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

func TestEnvDefaults(t *testing.T) {
	cpus := min(runtime.NumCPU(), maxWorkers)
	tests := []struct {
		name        string
		toml        string
		o           Overrides
		getenv      func(string) string
		wantWorkers int
		wantAddr    string
		wantErr     string
	}{
		{name: "nothing", getenv: env(), wantWorkers: cpus, wantAddr: DefaultAddress},
		{name: "nil getenv", wantWorkers: cpus, wantAddr: DefaultAddress},
		{name: "WEB_CONCURRENCY", getenv: env("WEB_CONCURRENCY", "7"), wantWorkers: 7, wantAddr: DefaultAddress},
		{name: "WEB_CONCURRENCY zero", getenv: env("WEB_CONCURRENCY", "0"),
			wantErr: `WEB_CONCURRENCY: must be a positive integer, got "0"`},
		{name: "WEB_CONCURRENCY text", getenv: env("WEB_CONCURRENCY", "four"),
			wantErr: `WEB_CONCURRENCY: must be a positive integer, got "four"`},
		{name: "WEB_CONCURRENCY sign", getenv: env("WEB_CONCURRENCY", "+4"),
			wantErr: `WEB_CONCURRENCY: must be a positive integer, got "+4"`},
		{name: "WEB_CONCURRENCY too many", getenv: env("WEB_CONCURRENCY", "2000"),
			wantErr: `WEB_CONCURRENCY: must be at most 1024`},
		{name: "WEB_CONCURRENCY under file", toml: "workers = 3", getenv: env("WEB_CONCURRENCY", "junk"),
			wantWorkers: 3, wantAddr: DefaultAddress},
		{name: "WEB_CONCURRENCY under flag", o: Overrides{Workers: 5}, getenv: env("WEB_CONCURRENCY", "junk"),
			wantWorkers: 5, wantAddr: DefaultAddress},
		{name: "PORT", getenv: env("PORT", "5000"), wantWorkers: cpus, wantAddr: "0.0.0.0:5000"},
		{name: "PORT bad", getenv: env("PORT", "http"),
			wantErr: `PORT: must be a port number from 1 to 65535, got "http"`},
		{name: "PORT too big", getenv: env("PORT", "65536"),
			wantErr: `PORT: must be a port number from 1 to 65535, got "65536"`},
		{name: "PORT under listen", toml: "[[listen]]\naddress = \"127.0.0.1:9\"", getenv: env("PORT", "http"),
			wantWorkers: cpus, wantAddr: "127.0.0.1:9"},
		{name: "PORT under bind", o: Overrides{Binds: []string{"127.0.0.1:10"}}, getenv: env("PORT", "5000"),
			wantWorkers: cpus, wantAddr: "127.0.0.1:10"},
		{name: "both bad", getenv: env("PORT", "x", "WEB_CONCURRENCY", "y"),
			wantErr: "WEB_CONCURRENCY: must be a positive integer, got \"y\"\nPORT: must be a port number from 1 to 65535, got \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("app.toml", []byte(tt.toml), tt.o, tt.getenv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Workers != tt.wantWorkers || len(c.Listen) != 1 || c.Listen[0].Address != tt.wantAddr || c.Listen[0].Protocol != ProtoHTTP {
				t.Errorf("got workers %d, listen %+v; want %d, %s", c.Workers, c.Listen, tt.wantWorkers, tt.wantAddr)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	dir := wd(t)
	file := "[[listen]]\naddress = \"127.0.0.1:8000\"\nprotocol = \"fastcgi\"\n" +
		"[[listen]]\naddress = \"unix:app.sock\"\nmode = 0o600\n"
	tests := []struct {
		name    string
		o       Overrides
		check   func(*Config) bool
		wantErr string
	}{
		{name: "none", check: func(c *Config) bool {
			return len(c.Listen) == 2 && c.Listen[1].Address == "unix:/etc/arbiter/app.sock"
		}},
		{name: "workers", o: Overrides{Workers: 9}, check: func(c *Config) bool { return c.Workers == 9 }},
		{name: "workers bad", o: Overrides{Workers: -1}, wantErr: "--workers: must be at least 1"},
		{name: "workers too many", o: Overrides{Workers: 5000}, wantErr: "--workers: must be at most 1024"},
		{name: "pidfile", o: Overrides{Pidfile: "run/a.pid"}, check: func(c *Config) bool {
			return c.Pidfile == filepath.Join(dir, "run/a.pid")
		}},
		{name: "bind replaces listen", o: Overrides{Binds: []string{"127.0.0.1:9000", "unix:b.sock"}}, check: func(c *Config) bool {
			return reflect.DeepEqual(c.Listen, []Listen{
				{Address: "127.0.0.1:9000", Protocol: ProtoHTTP},
				{Address: "unix:" + filepath.Join(dir, "b.sock"), Protocol: ProtoHTTP},
			})
		}},
		{name: "bind bad", o: Overrides{Binds: []string{"127.0.0.1:9000", "nowhere"}},
			wantErr: `--bind: invalid address "nowhere": ` + addressForms},
		{name: "bind twice", o: Overrides{Binds: []string{"127.0.0.1:9000", "127.0.0.1:9000"}},
			wantErr: `--bind: "127.0.0.1:9000" is already used by an earlier --bind`},
		{name: "bind empty", o: Overrides{Binds: []string{""}},
			wantErr: `--bind: required, like address = "127.0.0.1:8000"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/arbiter/app.toml", []byte(file), tt.o, env())
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

// TestOverrideKeepsFileProblems checks that problems in the file are
// reported even when an override replaces the key, next to the override's.
func TestOverrideKeepsFileProblems(t *testing.T) {
	_, err := Parse("app.toml", []byte("workers = \"x\""), Overrides{Workers: -2}, env())
	want := "app.toml:1:11: workers: must be an integer, got string \"x\"\n--workers: must be at least 1"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want\n%s", err, want)
	}
}
