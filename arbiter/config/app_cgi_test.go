package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// withCGIDefaults is a plus the defaults of the cgi keys, which every
// loaded Config has whatever its app type.
func withCGIDefaults(a App) App {
	a.Prefix = DefaultPrefix
	a.PassEnv = DefaultPassEnv
	a.ScriptTimeout = DefaultScriptTimeout
	a.MaxScripts = DefaultMaxScripts
	a.MaxScriptsWait = DefaultMaxScriptsWait
	return a
}

// cgiDir makes a directory with an executable script "run.sh", a plain file
// "data.txt" and a directory "bin", and returns it.
func cgiDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.py"), []byte("print()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCGIValid(t *testing.T) {
	dir := cgiDir(t)
	doc := `
[app]
type = "cgi"
root = "bin"
prefix = "/cgi-bin/"
extensions = [".cgi", ".py", ""]
workdir = "."
pass_env = ["PATH", "LANG"]
pass_authorization = true
script_timeout = "5s"
max_scripts = 8
max_scripts_wait = "250ms"
[app.interpreters]
".py" = "python3 -u"
".sh" = "/bin/sh"
`
	c, err := Parse(filepath.Join(dir, "app.toml"), []byte(doc), Overrides{}, env())
	if err != nil {
		t.Fatal(err)
	}
	want := App{
		Type: AppCGI, Root: filepath.Join(dir, "bin"), Index: []string{"index.html"},
		Prefix: "/cgi-bin/", Extensions: []string{".cgi", ".py", ""}, Workdir: dir,
		PassEnv: []string{"PATH", "LANG"}, PassAuthorization: true,
		ScriptTimeout: 5 * time.Second, MaxScripts: 8, MaxScriptsWait: 250 * time.Millisecond,
		Interpreters: map[string]string{".py": "python3 -u", ".sh": "/bin/sh"},
	}
	if !reflect.DeepEqual(c.App, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c.App, want)
	}
	// Workers get the config as JSON.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.App, want) {
		t.Errorf("after a JSON round trip\n%+v\nwant\n%+v", back.App, want)
	}

	// One script, through an interpreter: it need not be executable.
	doc = "[app]\ntype = \"cgi\"\nscript = \"data.py\"\ninterpreters = { \".py\" = \"python3\" }\n"
	c, err = Parse(filepath.Join(dir, "app.toml"), []byte(doc), Overrides{}, env())
	if err != nil {
		t.Fatal(err)
	}
	if c.App.Script != filepath.Join(dir, "data.py") || c.App.Root != "" {
		t.Errorf("script %q, root %q", c.App.Script, c.App.Root)
	}
}

func TestCGIProblems(t *testing.T) {
	dir := cgiDir(t)
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"neither", "[app]\ntype = \"cgi\"", []string{
			`app.toml:2:8: app.type: "cgi" needs script (one program for every request) or root (a directory of scripts)`}},
		{"both", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nscript = \"run.sh\"", []string{
			`app.toml:4:10: app.script: set either script (one program) or root (a directory of scripts), not both`}},
		{"script missing", "[app]\ntype = \"cgi\"\nscript = \"nope.sh\"", []string{
			`app.toml:3:10: app.script: "` + filepath.Join(dir, "nope.sh") + `" does not exist`}},
		{"script is a directory", "[app]\ntype = \"cgi\"\nscript = \"bin\"", []string{
			`app.toml:3:10: app.script: "` + filepath.Join(dir, "bin") + `" is not a regular file`}},
		{"script not executable", "[app]\ntype = \"cgi\"\nscript = \"data.py\"", []string{
			`app.toml:3:10: app.script: "` + filepath.Join(dir, "data.py") + `" is not executable: chmod +x it, or set an interpreter for ".py" in app.interpreters`}},
		{"script extension refused", "[app]\ntype = \"cgi\"\nscript = \"run.sh\"\nextensions = [\".cgi\"]", []string{
			`app.toml:3:10: app.script: "` + filepath.Join(dir, "run.sh") + `" has an extension (".sh") that app.extensions does not allow`}},
		{"script with another type", "[app]\ntype = \"echo\"\nscript = \"run.sh\"", []string{
			`app.toml:3:10: app.script: is only used when the type is "cgi", not "echo"`}},
		{"root missing", "[app]\ntype = \"cgi\"\nroot = \"none\"", []string{
			`app.toml:3:8: app.root: directory "` + filepath.Join(dir, "none") + `" does not exist`}},
		{"root is a file", "[app]\ntype = \"cgi\"\nroot = \"run.sh\"", []string{
			`app.toml:3:8: app.root: "` + filepath.Join(dir, "run.sh") + `" is not a directory`}},
		{"prefix relative", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nprefix = \"cgi-bin\"", []string{
			`app.toml:4:10: app.prefix: must be a URL path like "/" or "/cgi-bin/": it must start with "/"; got "cgi-bin"`}},
		{"prefix dot dot", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nprefix = \"/a/../b\"", []string{
			`app.toml:4:10: app.prefix: must be a URL path like "/" or "/cgi-bin/": empty, "." and ".." segments are not allowed; got "/a/../b"`}},
		{"prefix query", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nprefix = \"/a?b\"", []string{
			`app.toml:4:10: app.prefix: must be a URL path like "/" or "/cgi-bin/": "?", "#", "\" and NUL are not allowed; got "/a?b"`}},
		{"interpreters", "[app]\ntype = \"cgi\"\nroot = \"bin\"\n[app.interpreters]\n\".py\" = \"no-such-program-here\"\npy = \"python3\"\n\".sh\" = \"\"\n\".pl\" = \"bin/perl\"\n\".x\" = 3", []string{
			`app.toml:5:9: app.interpreters.".py": program "no-such-program-here" not found in PATH`,
			`app.toml:6:6: app.interpreters.py: must be a file extension with its dot, like ".py", got "py"`,
			`app.toml:7:9: app.interpreters.".sh": must name a program, like "python3" or "/usr/bin/perl -T"`,
			`app.toml:8:9: app.interpreters.".pl": the program must be a name looked up in PATH or an absolute path, got "bin/perl"`,
			`app.toml:9:8: app.interpreters.".x": must be a string, got integer 3`,
		}},
		{"interpreter not executable", "[app]\ntype = \"cgi\"\nroot = \"bin\"\ninterpreters = { \".py\" = \"" + filepath.Join(dir, "data.py") + "\" }", []string{
			`app.toml:4:26: app.interpreters.".py": "` + filepath.Join(dir, "data.py") + `" is not an executable file`}},
		{"interpreters not a table", "[app]\ninterpreters = \"python3\"", []string{
			`app.toml:2:16: app.interpreters: must be a table ([app.interpreters]) of strings, got string "python3"`}},
		{"extensions", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nextensions = [\"cgi\", \".tar.gz\", \".py\"]", []string{
			`app.toml:4:15: app.extensions[0]: must be a file extension with its dot, like ".cgi", or "" for files without one; got "cgi"`,
			`app.toml:4:22: app.extensions[1]: must be a file extension with its dot, like ".cgi", or "" for files without one; got ".tar.gz"`,
		}},
		{"workdir", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nworkdir = \"run.sh\"", []string{
			`app.toml:4:11: app.workdir: "` + filepath.Join(dir, "run.sh") + `" is not a directory`}},
		{"workdir missing", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nworkdir = \"gone\"", []string{
			`app.toml:4:11: app.workdir: cannot use "` + filepath.Join(dir, "gone") + `": no such file or directory`}},
		{"pass_env", "[app]\ntype = \"cgi\"\nroot = \"bin\"\npass_env = [\"PATH\", \"A=B\", \"\"]", []string{
			`app.toml:4:21: app.pass_env[1]: must be an environment variable name, like "PATH", got "A=B"`,
			`app.toml:4:28: app.pass_env[2]: must be an environment variable name, like "PATH", got ""`,
		}},
		{"pass_authorization", "[app]\npass_authorization = \"yes\"", []string{
			`app.toml:2:22: app.pass_authorization: must be true or false, got string "yes"`}},
		{"limits", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nscript_timeout = \"-1s\"\nmax_scripts = 0\nmax_scripts_wait = \"-5ms\"", []string{
			`app.toml:4:18: app.script_timeout: must not be negative, got -1s`,
			`app.toml:5:15: app.max_scripts: must be at least 1`,
			`app.toml:6:20: app.max_scripts_wait: must not be negative, got -5ms`,
		}},
		{"max_scripts", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nmax_scripts = 65536", []string{
			`app.toml:4:15: app.max_scripts: must be at most 65535`}},
		{"unknown cgi key", "[app]\ntype = \"cgi\"\nroot = \"bin\"\nscript_timout = \"1s\"", []string{
			`app.toml:4:1: app.script_timout: unknown key; did you mean "script_timeout"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(filepath.Join(dir, "app.toml"), []byte(tt.toml), Overrides{}, env())
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got (%+v, %v), want Errors", c, err)
			}
			got := strings.Split(strings.ReplaceAll(errs.Error(), filepath.Join(dir, "app.toml"), "app.toml"), "\n")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range []string{"/", "/cgi-bin", "/cgi-bin/", "/a/b/c/", "/~user/"} {
		var got collector
		checkPrefix(&got, "p", p)
		if len(got) != 0 {
			t.Errorf("checkPrefix(%q): %v", p, got)
		}
	}
	for _, p := range []string{"", "a", "//", "/a//b", "/./", "/a/..", "/a#b", "/a\\b", "/a\x00"} {
		var got collector
		checkPrefix(&got, "p", p)
		if len(got) != 1 {
			t.Errorf("checkPrefix(%q): %v, want one problem", p, got)
		}
	}
}
