package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMounts(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "public"), 0o755)
	os.Mkdir(filepath.Join(dir, "cgi-bin"), 0o755)
	name := filepath.Join(dir, "app.toml")
	c, err := Parse(name, []byte(`
[app]
type = "static"
root = "public"
[[mount]]
path = "/cgi-bin"
type = "cgi"
root = "cgi-bin"
[[mount]]
path = "/echo"
type = "echo"
`), Overrides{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mounts) != 2 || c.Mounts[0].Type != AppCGI || c.Mounts[0].Root != filepath.Join(dir, "cgi-bin") ||
		c.Mounts[1].Path != "/echo" || c.Mounts[1].Index[0] != "index.html" || c.Mounts[0].MaxScripts != DefaultMaxScripts {
		t.Fatalf("mounts %+v", c.Mounts)
	}

	_, err = Parse(name, []byte(`
[[mount]]
path = "/"
[[mount]]
path = "/a/"
[[mount]]
path = "/x"
type = "static"
[[mount]]
path = "/x"
bogus = 1
[[mount]]
type = "echo"
`), Overrides{}, nil)
	want := []string{
		`app.toml:3:8: mount[0].path: must be a clean absolute URL path other than "/"`,
		`app.toml:5:8: mount[1].path: must be a clean absolute URL path other than "/"`,
		`mount[2].root: required when the type is "static"`,
		`app.toml:10:8: mount[3].path: "/x" is already mounted by mount[2].path (line 7)`,
		`app.toml:11:1: mount[3].bogus: unknown key`,
		`mount[4].path: required`,
	}
	if err == nil {
		t.Fatal("bad mounts accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("problems lack %q:\n%v", w, err)
		}
	}
}
