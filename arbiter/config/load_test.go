package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// env is a fake getenv.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func wd(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// want is the Config defaults() plus Load's environment defaults give when
// nothing is set, with path and listeners adjusted by the caller.
func wantDefaults() *Config {
	c := defaults()
	c.Workers = min(runtime.NumCPU(), maxWorkers)
	c.Listen = []Listen{{Address: DefaultAddress, Protocol: ProtoHTTP}}
	c.ListenDefaulted = true
	return c
}

func loadFile(t *testing.T, file string, o Overrides, getenv func(string) string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(file, data, o, getenv)
}

func TestParseValidFiles(t *testing.T) {
	td := filepath.Join(wd(t), "testdata")
	tests := []struct {
		file string
		want func() *Config
	}{
		{"minimal.toml", func() *Config {
			c := wantDefaults()
			c.Path = filepath.Join(td, "minimal.toml")
			return c
		}},
		{"full.toml", func() *Config {
			return &Config{
				Path:                  filepath.Join(td, "full.toml"),
				Workers:               4,
				Timeout:               45 * time.Second,
				GracefulTimeout:       time.Minute,
				Pidfile:               filepath.Join(td, "run/arbiter.pid"),
				MaxRequests:           1000,
				MaxRequestsJitter:     50,
				MaxBootFailures:       3,
				ReloadStrategy:        ReloadRolling,
				ReloadBatch:           2,
				UpgradeTimeout:        90 * time.Second,
				ScaleDownAfter:        DefaultScaleDownAfter,
				ControlSocket:         filepath.Join(td, "run/arbiter.ctl"), // next to the pidfile
				User:                  "nobody",
				Group:                 "nogroup",
				Umask:                 0o027,
				Chdir:                 filepath.Join(td, "www"),
				Status:                Status{Address: "127.0.0.1:9100"},
				Backlog:               512,
				Keepalive:             5 * time.Second,
				WorkerConnections:     250,
				ReadHeaderTimeout:     0,
				ReadTimeout:           150 * time.Second,
				WriteTimeout:          90 * time.Second,
				ForwardedAllowIPs:     []string{"127.0.0.1", "::1"},
				LimitRequestLine:      0,
				LimitRequestFields:    50,
				LimitRequestFieldSize: 16384,
				Log:                   Log{Level: "debug", Format: "json", File: filepath.Join(td, "log/arbiter.log"), AccessLog: "-"},
				Listen: []Listen{
					{Address: "0.0.0.0:8080", Protocol: ProtoHTTP, Name: "public"},
					{Address: "unix:" + filepath.Join(td, "run/app.sock"), Protocol: ProtoFastCGI, Mode: 0o660},
					{Address: "[::1]:9000", Protocol: ProtoUWSGI},
					{Address: "fd://3", Protocol: ProtoSCGI},
				},
				App: withCGIDefaults(App{Type: AppStatic, Root: filepath.Join(td, "www"), Index: []string{"index.html", "index.htm"}}),
			}
		}},
		{"inline.toml", func() *Config {
			c := wantDefaults()
			c.Path = filepath.Join(td, "inline.toml")
			c.Log.Level, c.Log.Format = "warn", "console"
			c.Listen = []Listen{
				{Address: "127.0.0.1:8001", Protocol: ProtoSCGI},
				{Address: "unix:/tmp/arbiter-test.sock", Protocol: ProtoHTTP, Mode: 0o600, Name: "local"},
			}
			c.ListenDefaulted = false
			c.App.Type = AppGo
			return c
		}},
		{"dotted.toml", func() *Config {
			c := wantDefaults()
			c.Path = filepath.Join(td, "dotted.toml")
			c.Workers = 2
			c.Log.Level, c.Log.AccessLog = "error", filepath.Join(td, "access.log")
			c.Listen = []Listen{{Address: "localhost:8002", Protocol: ProtoHTTP}}
			c.ListenDefaulted = false
			c.App = withCGIDefaults(App{Type: AppStatic, Root: filepath.Join(td, "www"), Index: []string{}})
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := loadFile(t, filepath.Join("testdata", tt.file), Overrides{}, env())
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			want := tt.want()
			if want.ControlSocket == "" {
				want.ControlSocket = ControlSocketPath(want.Path, want.Pidfile, env(), os.Getuid())
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"range", "\n\nworkers = 0\n", []string{"app.toml:3:11: workers: must be at least 1"}},
		{"byte order mark", "\ufeffworkers = 0", []string{"app.toml:1:11: workers: must be at least 1"}},
		{"crlf", "workers = 1\r\nbogus = 1\r\n", []string{"app.toml:2:1: bogus: unknown key"}},
		{"range max", "workers = 1025", []string{"app.toml:1:11: workers: must be at most 1024"}},
		{"backlog", "backlog = 65536", []string{"app.toml:1:11: backlog: must be at most 65535"}},
		{"limits", "limit_request_line = -1\nlimit_request_fields = 32769\nlimit_request_field_size = 65536", []string{
			"app.toml:1:22: limit_request_line: must be at least 0",
			"app.toml:2:24: limit_request_fields: must be at most 32768",
			"app.toml:3:28: limit_request_field_size: must be at most 65535",
		}},
		{"boot failures", "max_boot_failures = 0\nmax_requests = -1\nmax_requests_jitter = -2", []string{
			"app.toml:1:21: max_boot_failures: must be at least 1",
			"app.toml:2:16: max_requests: must be at least 0",
			"app.toml:3:23: max_requests_jitter: must be at least 0",
		}},
		{"recycling", "max_worker_lifetime = \"-1s\"\nmax_worker_lifetime_jitter = \"soon\"\nmax_worker_memory = \"lots\"", []string{
			"app.toml:1:23: max_worker_lifetime: must not be negative, got -1s",
			`app.toml:2:30: max_worker_lifetime_jitter: invalid duration "soon": want a number with a unit, like "30s", "1m30s" or "500ms"`,
			`app.toml:3:21: max_worker_memory: must be a size in bytes, or a string like "512KiB", "64MiB" or "1GiB", got "lots"`,
		}},
		{"reload and upgrade", "reload_strategy = \"sideways\"\nreload_batch = 0\nupgrade_timeout = \"0s\"", []string{
			`app.toml:1:19: reload_strategy: must be one of generation, rolling; got "sideways"`,
			"app.toml:2:16: reload_batch: must be at least 1",
			"app.toml:3:19: upgrade_timeout: must be greater than 0s, got 0s",
		}},
		{"wrong type int", `workers = "4"`, []string{`app.toml:1:11: workers: must be an integer, got string "4"`}},
		{"float int", `worker_connections = 2.5`, []string{`app.toml:1:22: worker_connections: must be an integer, got float 2.5`}},
		{"duration int", `timeout = 30`, []string{`app.toml:1:11: timeout: must be a duration string like "30s", got integer 30`}},
		{"duration bad", `keepalive = "5 seconds"`, []string{`app.toml:1:13: keepalive: invalid duration "5 seconds": want a number with a unit, like "30s", "1m30s" or "500ms"`}},
		{"duration negative", `read_timeout = "-1s"`, []string{`app.toml:1:16: read_timeout: must not be negative, got -1s`}},
		{"duration zero", `graceful_timeout = "0s"`, []string{`app.toml:1:20: graceful_timeout: must be greater than 0s, got 0s`}},
		{"unknown top", "\nowner = \"www\"", []string{`app.toml:2:1: owner: unknown key`}},
		{"process", "user = \"no-such-user-here\"\ngroup = \"no-such-group-here\"\numask = \"0o1777\"\nchdir = \"/no/such/dir\"\n[status]\naddress = \"fd://3\"", []string{
			`app.toml:1:8: user: no such user "no-such-user-here"`,
			`app.toml:2:9: group: no such group "no-such-group-here"`,
			`app.toml:3:9: umask: must be at most 0o777, got 0o1777`,
			`app.toml:4:9: chdir: "/no/such/dir" is not a directory`,
			`app.toml:6:11: status.address: want "host:port" or "unix:/path"`,
		}},
		{"systemd address", "[[listen]]\naddress = \"systemd:a:b\"", []string{
			`app.toml:2:11: listen[0].address: invalid address "systemd:a:b": want systemd:NAME with the .socket unit's FileDescriptorName (no colon or space), or systemd:N for the N-th passed socket`,
		}},
		{"unknown suggest", "worker = 2", []string{`app.toml:1:1: worker: unknown key; did you mean "workers"?`}},
		{"unknown table", "[logging]\nlevel = \"info\"", []string{`app.toml:1:2: logging: unknown key`}},
		{"unknown in log", "[log]\n  levle = \"info\"", []string{`app.toml:2:3: log.levle: unknown key; did you mean "level"?`}},
		{"unknown quoted", `"a.b" = 1`, []string{`app.toml:1:1: "a.b": unknown key`}},
		{"enum level", "[log]\nlevel = \"loud\"", []string{`app.toml:2:9: log.level: must be one of trace, debug, info, warn, error; got "loud"`}},
		{"enum format", "[log]\nformat = \"xml\"", []string{`app.toml:2:10: log.format: must be one of auto, json, console; got "xml"`}},
		{"log string", "[log]\nfile = 1", []string{`app.toml:2:8: log.file: must be a string, got integer 1`}},
		{"log not table", `log = "debug"`, []string{`app.toml:1:7: log: must be a table ([log]), got string "debug"`}},
		{"listen as table", "[listen]\naddress = \"127.0.0.1:1\"", []string{`app.toml:1:2: listen: must be an array of tables: write [[listen]], not [listen]`}},
		{"listen element", `listen = ["127.0.0.1:1"]`, []string{`app.toml:1:11: listen[0]: must be a table, got string "127.0.0.1:1"`}},
		{"address missing", "[[listen]]\nprotocol = \"http\"", []string{`app.toml:1:3: listen[0].address: required, like address = "127.0.0.1:8000"`}},
		{"address bad", "[[listen]]\naddress = \"http://x\"", []string{
			`app.toml:2:11: listen[0].address: invalid address "http://x": the port must be a number from 0 to 65535; ` + addressForms}},
		{"address no port", "[[listen]]\naddress = \"localhost\"", []string{
			`app.toml:2:11: listen[0].address: invalid address "localhost": ` + addressForms}},
		{"fd too small", "[[listen]]\naddress = \"fd://2\"", []string{
			`app.toml:2:11: listen[0].address: invalid address "fd://2": want fd://N with N a number of at least 3 (0, 1 and 2 are stdin, stdout and stderr)`}},
		{"duplicate address", "[[listen]]\naddress = \"127.0.0.1:8000\"\n[[listen]]\naddress = \"127.0.0.1:8000\"", []string{
			`app.toml:4:11: listen[1].address: "127.0.0.1:8000" is already used by listen[0].address (line 2)`}},
		{"protocol", "[[listen]]\naddress = \"127.0.0.1:1\"\nprotocol = \"HTTP\"", []string{
			`app.toml:3:12: listen[0].protocol: must be one of http, fastcgi, scgi, uwsgi; got "HTTP"`}},
		{"mode on tcp", "[[listen]]\naddress = \"127.0.0.1:1\"\nmode = 0o600", []string{
			`app.toml:3:8: listen[0].mode: is only valid for unix: addresses`}},
		{"mode decimal", "[[listen]]\naddress = \"unix:/tmp/x.sock\"\nmode = 660", []string{
			`app.toml:3:8: listen[0].mode: must be at most 0o777, got 0o1224; write the mode in octal: 0o660 or "0660"`}},
		{"mode string", "[[listen]]\naddress = \"unix:/tmp/x.sock\"\nmode = \"rw\"", []string{
			`app.toml:3:8: listen[0].mode: must be a file mode like 0o660 or "0660", got "rw"`}},
		{"mode bool", "[[listen]]\naddress = \"unix:/tmp/x.sock\"\nmode = true", []string{
			`app.toml:3:8: listen[0].mode: must be a file mode like 0o660 or "0660", got boolean true`}},
		{"app type", "[app]\ntype = \"php\"", []string{`app.toml:2:8: app.type: must be one of echo, static, go, cgi, wsgi; got "php"`}},
		{"static no root", "[app]\ntype = \"static\"", []string{`app.toml:1:2: app.root: required when the type is "static"`}},
		{"static root file", "[app]\ntype = \"static\"\nroot = \"testdata/www/index.html\"", []string{
			`app.toml:3:8: app.root: "` + filepath.Join(wd(t), "testdata/www/index.html") + `" is not a directory`}},
		{"index element", "[app]\nindex = [\"a\", 2]", []string{`app.toml:2:15: app.index[1]: must be a string, got integer 2`}},
		{"index slash", "[app]\nindex = [\"a\", \"b/c\"]", []string{`app.toml:2:15: app.index[1]: must be a file name without "/", like "index.html", got "b/c"`}},
		{"index not array", "[app]\nindex = \"index.html\"", []string{`app.toml:2:9: app.index: must be an array of strings, got string "index.html"`}},
		{"inline table", `log = { level = "x" }`, []string{`app.toml:1:17: log.level: must be one of trace, debug, info, warn, error; got "x"`}},
		{"inline unknown", `app = { type = "go", kind = 1 }`, []string{`app.toml:1:22: app.kind: unknown key`}},
		{"array of inline tables", "listen = [\n  { address = \"127.0.0.1:1\" },\n  { address = \"127.0.0.1:2\", proto = \"x\" },\n]", []string{
			`app.toml:3:30: listen[1].proto: unknown key; did you mean "protocol"?`}},
		{"dotted", "log.level = 3", []string{`app.toml:1:13: log.level: must be a string, got integer 3`}},
		{"dotted unknown", "log.colour.dark = 3", []string{`app.toml:1:5: log.colour: unknown key`}},
		{"dotted in table", "[app]\nindex.html = 1", []string{`app.toml:2:1: app.index: must be an array of strings, got table`}},
		{"syntax", "workers = 4\n[log\nlevel = \"x\"", []string{`app.toml:2:5: expected ']' to close table name`}},
		{"syntax duplicate", "workers = 4\nworkers = 5", []string{`app.toml:2:1: workers: key workers is already defined`}},
		{"date", "timeout = 1979-05-27", []string{`app.toml:1:11: timeout: must be a duration string like "30s", got date`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("app.toml", []byte(tt.toml), Overrides{}, env())
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got (%+v, %v), want Errors", c, err)
			}
			if c != nil {
				t.Errorf("got a Config with errors: %+v", c)
			}
			got := strings.Split(errs.Error(), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestParseManyProblems checks that one file with many problems gets all of
// them, in file order, each with its own position.
func TestParseManyProblems(t *testing.T) {
	td := filepath.Join(wd(t), "testdata")
	_, err := loadFile(t, "testdata/many.toml", Overrides{}, env("WEB_CONCURRENCY", "lots"))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want Errors", err)
	}
	want := Errors{
		{"testdata/many.toml", 1, 11, "workers", "must be at least 1"},
		{"testdata/many.toml", 2, 11, "timeout", `must be a duration string like "30s", got integer 30`},
		{"testdata/many.toml", 3, 20, "graceful_timeout", "must be greater than 0s, got -1s"},
		{"testdata/many.toml", 4, 1, "bogus", "unknown key"},
		{"testdata/many.toml", 5, 11, "backlog", "must be at most 65535"},
		{"testdata/many.toml", 8, 9, "log.level", `must be one of trace, debug, info, warn, error; got "loud"`},
		{"testdata/many.toml", 9, 1, "log.colour", "unknown key"},
		{"testdata/many.toml", 15, 11, "listen[1].address", `"127.0.0.1:8000" is already used by listen[0].address (line 12)`},
		{"testdata/many.toml", 16, 8, "listen[1].mode", "is only valid for unix: addresses"},
		{"testdata/many.toml", 19, 11, "listen[2].address", `invalid address "localhost": ` + addressForms},
		{"testdata/many.toml", 20, 12, "listen[2].protocol", `must be one of http, fastcgi, scgi, uwsgi; got "gopher"`},
		{"testdata/many.toml", 24, 8, "app.root", `directory "` + filepath.Join(td, "no-such-dir") + `" does not exist`},
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("got\n%v\nwant\n%v", errs, want)
	}
}

func TestUnknownKeyInSecondListener(t *testing.T) {
	_, err := loadFile(t, "testdata/listen2_unknown.toml", Overrides{}, env())
	want := `testdata/listen2_unknown.toml:6:1: listen[1].protocl: unknown key; did you mean "protocol"?`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestSyntaxErrorFile(t *testing.T) {
	_, err := loadFile(t, "testdata/syntax.toml", Overrides{}, env())
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	if p := errs[0]; p.File != "testdata/syntax.toml" || p.Line != 2 || p.Col != 5 {
		t.Errorf("got %+v, want testdata/syntax.toml:2:5", p)
	}
}

func TestRelativePaths(t *testing.T) {
	dir := wd(t)
	src := []byte("pidfile = \"a.pid\"\n[log]\nfile = \"../log/x.log\"\naccess_log = \"-\"\n" +
		"[[listen]]\naddress = \"unix:./s.sock\"\n")
	tests := []struct {
		name, file, base, path string
	}{
		{"absolute file", "/srv/app/app.toml", "/srv/app", "/srv/app/app.toml"},
		{"relative file", "conf/app.toml", filepath.Join(dir, "conf"), filepath.Join(dir, "conf/app.toml")},
		{"unnamed", "", dir, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.file, src, Overrides{}, env())
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != tt.path {
				t.Errorf("Path = %q, want %q", c.Path, tt.path)
			}
			if want := filepath.Join(tt.base, "a.pid"); c.Pidfile != want {
				t.Errorf("Pidfile = %q, want %q", c.Pidfile, want)
			}
			if want := filepath.Join(filepath.Dir(tt.base), "log/x.log"); c.Log.File != want {
				t.Errorf("Log.File = %q, want %q", c.Log.File, want)
			}
			if c.Log.AccessLog != "-" {
				t.Errorf("AccessLog = %q, want -", c.Log.AccessLog)
			}
			if want := "unix:" + filepath.Join(tt.base, "s.sock"); c.Listen[0].Address != want {
				t.Errorf("address = %q, want %q", c.Listen[0].Address, want)
			}
		})
	}
}

func TestUnnamedProblems(t *testing.T) {
	_, err := Parse("", []byte("workers = 0"), Overrides{}, env())
	if want := "<config>:1:11: workers: must be at least 1"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	t.Run("no file", func(t *testing.T) {
		c, err := Load("", Overrides{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := wantDefaults()
		want.Workers = 2
		want.ControlSocket = ControlSocketPath("", "", os.Getenv, os.Getuid())
		if os.Getenv("PORT") != "" {
			want.Listen[0].Address = "0.0.0.0:" + os.Getenv("PORT")
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got %+v, want %+v", c, want)
		}
	})
	t.Run("file", func(t *testing.T) {
		c, err := Load("testdata/full.toml", Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(wd(t), "testdata/full.toml"); c.Path != want {
			t.Errorf("Path = %q, want %q", c.Path, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := Load("testdata/missing.toml", Overrides{})
		var errs Errors
		if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &errs) {
			t.Errorf("got %v, want a wrapped fs.ErrNotExist", err)
		}
	})
	t.Run("problems", func(t *testing.T) {
		_, err := Load("testdata/listen2_unknown.toml", Overrides{})
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Errorf("got %v, want one problem", err)
		}
	})
}

func TestJSONRoundTrip(t *testing.T) {
	for _, file := range []string{"full.toml", "minimal.toml", "inline.toml", "dotted.toml"} {
		t.Run(file, func(t *testing.T) {
			c, err := loadFile(t, filepath.Join("testdata", file), Overrides{}, env())
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var back Config
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&back, c) {
				t.Errorf("round trip changed the config:\n%+v\n%+v", c, &back)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"app.toml", 3, 11, "workers", "must be at least 1"}, "app.toml:3:11: workers: must be at least 1"},
		{Problem{"", 0, 0, "--bind", "bad"}, "--bind: bad"},
		{Problem{"app.toml", 0, 0, "app.root", "x"}, "app.toml: app.root: x"},
		{Problem{"app.toml", 2, 5, "", "syntax"}, "app.toml:2:5: syntax"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	e := Errors{tests[0].p, tests[1].p}
	if got, want := e.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}
