package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWSGIProblems(t *testing.T) {
	wsgi := "[app]\ntype = \"wsgi\"\nmodule = \"app\"\n"
	for _, tt := range []struct {
		name, toml string
		want       []string
	}{
		{"no module", "[app]\ntype = \"wsgi\"", []string{
			`app.toml:2:8: app.type: "wsgi" needs module, the app as gunicorn names it: module = "myproject.wsgi:application"`}},
		{"bad module", "[app]\ntype = \"wsgi\"\nmodule = \"my app\"", []string{
			`app.toml:3:10: app.module: must be "package.module:callable", "package.module" (the callable is "application") or "package.module:factory()", got "my app"`}},
		{"open call", "[app]\ntype = \"wsgi\"\nmodule = \"app:create_app(\"", []string{
			`app.toml:3:10: app.module: must be "package.module:callable", "package.module" (the callable is "application") or "package.module:factory()", got "app:create_app("`}},
		{"no interpreter", wsgi + `python = "/no/such/python"`, []string{
			`app.toml:4:10: app.python: the interpreter "/no/such/python" does not exist`}},
		{"interpreter not in PATH", wsgi + `python = "no-such-python-here"`, []string{
			`app.toml:4:10: app.python: the interpreter "no-such-python-here" is not in PATH: install Python 3.9 or newer, or set python (or virtualenv) to where it is`}},
		{"no virtualenv", wsgi + `virtualenv = "/no/venv"`, []string{
			`app.toml:4:14: app.virtualenv: "/no/venv" is not a directory`}},
		{"zero processes", wsgi + "processes = 0\nthreads = 0", []string{
			"app.toml:4:13: app.processes: must be at least 1",
			"app.toml:5:11: app.threads: must be at least 1"}},
		{"too many", wsgi + "processes = 257\nthreads = 2000", []string{
			"app.toml:4:13: app.processes: must be at most 256",
			"app.toml:5:11: app.threads: must be at most 1024"}},
		{"sizes", wsgi + "max_memory = \"lots\"\nbuffer_size = \"1KiB\"\nmax_body_size = -1", []string{
			`app.toml:4:14: app.max_memory: must be a size in bytes, or a string like "512KiB", "64MiB" or "1GiB", got "lots"`,
			"app.toml:5:15: app.buffer_size: must be at least 4KiB, got 1024 bytes",
			"app.toml:6:17: app.max_body_size: must not be negative"}},
		{"zero buffer", wsgi + "buffer_size = 0", []string{
			"app.toml:4:15: app.buffer_size: must be at least 4KiB, got 0 bytes"}},
		{"timeouts", wsgi + "request_timeout = \"-1s\"\nmax_requests = -1", []string{
			"app.toml:4:19: app.request_timeout: must not be negative, got -1s",
			"app.toml:5:16: app.max_requests: must be at least 0"}},
		{"pythonpath", wsgi + `pythonpath = ["/no/such/dir", "testdata/full.toml"]`, []string{
			`app.toml:4:15: app.pythonpath[0]: cannot use "/no/such/dir": no such file or directory`,
			`app.toml:4:31: app.pythonpath[1]: "` + filepath.Join(wd(t), "testdata/full.toml") + `" is neither a directory nor a .zip file`}},
		{"env", wsgi + "[app.env]\nARBITER_X = \"1\"", []string{
			`app.toml:5:13: app.env.ARBITER_X: must be an environment variable name (not ARBITER_*) with a value without NUL`}},
		{"temp_dir", wsgi + `temp_dir = "/no/tmp"`, []string{`app.toml:4:12: app.temp_dir: "/no/tmp" is not a directory`}},
		{"on another type", "[app]\ntype = \"static\"\nroot = \"testdata\"\nmodule = \"app\"\nprocesses = 0\npreload = false", []string{
			`app.toml:4:10: app.module: is only used when the type is "wsgi", not "static"`,
			`app.toml:5:13: app.processes: is only used when the type is "wsgi", not "static"`,
			`app.toml:6:11: app.preload: is only used when the type is "wsgi", not "static"`}},
		{"mount", "[[mount]]\npath = \"/py\"\ntype = \"wsgi\"\nmodule = \"app\"\nthreads = 0", []string{
			"app.toml:5:11: mount[0].threads: must be at least 1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("app.toml", []byte(tt.toml), Overrides{}, env())
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got (%+v, %v), want Errors", c, err)
			}
			if got := strings.Split(errs.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// The defaults of a wsgi app, and WEB_CONCURRENCY as its processes.
func TestWSGIDefaults(t *testing.T) {
	c, err := Parse("app.toml", []byte("[app]\ntype = \"wsgi\"\nmodule = \"app\"\npython = \"/bin/sh\""), Overrides{}, env("WEB_CONCURRENCY", "3"))
	if err != nil {
		t.Fatal(err)
	}
	a := c.App
	if c.Workers != 1 || a.Processes != 3 || a.Threads != DefaultThreads || a.RequestTimeout != DefaultRequestTimeout || a.BufferSize != DefaultBufferSize || !a.SchedBatch {
		t.Errorf("workers %d, app %+v", c.Workers, a)
	}
	c, err = Parse("app.toml", []byte("[app]\ntype = \"wsgi\"\nmodule = \"app\"\npython = \"/bin/sh\"\nrequest_timeout = \"0s\""), Overrides{}, env())
	if err != nil || c.App.RequestTimeout != 0 {
		t.Errorf("request_timeout = \"0s\" (no limit): %v, %v", c.App.RequestTimeout, err)
	}
	c, err = Parse("app.toml", []byte("[app]\ntype = \"wsgi\"\nmodule = \"app\"\npython = \"/bin/sh\"\nsched_batch = false"), Overrides{}, env())
	if err != nil || c.App.SchedBatch {
		t.Errorf("sched_batch = false: %v, %v", c.App.SchedBatch, err)
	}
}
