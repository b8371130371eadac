package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControlSocketPath(t *testing.T) {
	env := env("XDG_RUNTIME_DIR", "/run/user/1000")
	tests := []struct {
		config, pidfile string
		uid             int
		getenv          func(string) string
		want            string
	}{
		{"/srv/app.toml", "/run/app.pid", 0, env, "/run/app.ctl"},
		{"/srv/app.toml", "/run/app", 1000, env, "/run/app.ctl"},
		{"/srv/app.toml", "/run/app.pid.2", 0, env, "/run/app.pid.2.ctl"},
		{"", "", 0, env, "/run/arbiter/arbiter.ctl"},
		{"", "", 1000, env, "/run/user/1000/arbiter/arbiter.ctl"},
		{"", "", 1000, nil, "/tmp/arbiter-1000/arbiter.ctl"},
		// A pidfile too deep for a socket path next to it.
		{"", "/" + strings.Repeat("d", 100) + "/app.pid", 0, env, "/run/arbiter/arbiter.ctl"},
	}
	for _, tt := range tests {
		getenv := tt.getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		if got := ControlSocketPath(tt.config, tt.pidfile, getenv, tt.uid); got != tt.want {
			t.Errorf("ControlSocketPath(%q, %q, uid %d) = %q, want %q", tt.config, tt.pidfile, tt.uid, got, tt.want)
		}
	}
	// Without a pidfile the name comes from the config's path, so two
	// configs named alike in different directories get different sockets.
	a := ControlSocketPath("/srv/a/app.toml", "", env, 0)
	b := ControlSocketPath("/srv/b/app.toml", "", env, 0)
	if a == b || !strings.HasPrefix(a, "/run/arbiter/app-") || !strings.HasSuffix(a, ".ctl") {
		t.Errorf("paths %q and %q", a, b)
	}
	if long := ControlSocketPath("/srv/"+strings.Repeat("n", 200)+".toml", "", env, 0); len(long) > maxUnixPath {
		t.Errorf("a long config name gives %q", long)
	}
}

func TestScalingKeys(t *testing.T) {
	load := func(toml string) (*Config, error) {
		return Parse("app.toml", []byte(toml), Overrides{}, env())
	}
	c, err := load("workers_min = 2\nworkers_max = 6\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Dynamic() || c.Workers != 2 || c.WorkersMin != 2 || c.WorkersMax != 6 || c.ScaleDownAfter != DefaultScaleDownAfter {
		t.Errorf("dynamic fleet: %+v", c)
	}
	c, err = load("workers_max = 3\nscale_down_after = \"5s\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkersMin != 1 || c.Workers != 1 || c.ScaleDownAfter.String() != "5s" {
		t.Errorf("workers_max alone: min %d, workers %d", c.WorkersMin, c.Workers)
	}
	c, err = load("workers = 3")
	if err != nil || c.Dynamic() || c.Workers != 3 {
		t.Fatalf("fixed fleet: %v %+v", err, c)
	}
	c, err = load(`control_socket = ""`)
	if err != nil || c.ControlSocket != "" {
		t.Fatalf(`control_socket = "": %v %q`, err, c.ControlSocket)
	}
}

func TestScalingProblems(t *testing.T) {
	tests := []struct{ toml, want string }{
		{"workers_min = 2", "app.toml:1:15: workers_min: needs workers_max: the fleet moves between the two"},
		{"workers_min = 5\nworkers_max = 3", "app.toml:1:15: workers_min: must be at most workers_max (3), got 5"},
		{"workers_max = 1025", "app.toml:1:15: workers_max: must be at most 1024"},
		{"workers = 9\nworkers_min = 1\nworkers_max = 4", "app.toml:1:11: workers: must be within workers_min and workers_max (1–4), got 9"},
		{`scale_down_after = "0s"`, "app.toml:1:20: scale_down_after: must be greater than 0s, got 0s"},
		{`control_socket = "/` + strings.Repeat("x", 120) + `"`, "app.toml:1:18: control_socket: invalid path \"/" + strings.Repeat("x", 120) + "\": the socket path is 121 bytes long; the limit is 107"},
	}
	for _, tt := range tests {
		_, err := Parse("app.toml", []byte(tt.toml), Overrides{}, env())
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tt.toml, err, tt.want)
		}
	}
}

// A client finds the socket of a file a reload would refuse.
func TestFindControlSocket(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "app.toml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	none := func(string) string { return "" }
	p := write("workers = 0\npidfile = \"run/app.pid\"\n")
	if got, err := FindControlSocket(p, none, 0); err != nil || got != filepath.Join(dir, "run/app.ctl") {
		t.Errorf("with a pidfile: %q %v", got, err)
	}
	p = write("bogus = 1\ncontrol_socket = \"ctl.sock\"\n")
	if got, err := FindControlSocket(p, none, 0); err != nil || got != filepath.Join(dir, "ctl.sock") {
		t.Errorf("control_socket: %q %v", got, err)
	}
	p = write("control_socket = \"\"\n")
	if got, err := FindControlSocket(p, none, 0); err != nil || got != "" {
		t.Errorf("off: %q %v", got, err)
	}
	p = write("workers = 2\n")
	if got, _ := FindControlSocket(p, none, 0); got != ControlSocketPath(p, "", none, 0) {
		t.Errorf("default: %q", got)
	}
	// The same path Load gives.
	c, err := Load(p, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := FindControlSocket(p, os.Getenv, os.Getuid()); got != c.ControlSocket {
		t.Errorf("FindControlSocket %q, Load %q", got, c.ControlSocket)
	}
	if _, err := FindControlSocket(write("workers = "), none, 0); err == nil {
		t.Error("a syntax error is not reported")
	}
}
