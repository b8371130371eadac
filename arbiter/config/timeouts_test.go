package config

import (
	"strings"
	"testing"
	"time"
)

// The precedence of the time limits: an app's own key, else the top-level
// request_timeout when the file sets it (even to 0), else the type's default.
func TestRequestTimeoutPrecedence(t *testing.T) {
	const apps = `
[app]
type = "echo"
%s
[[mount]]
path = "/py"
type = "wsgi"
module = "app:application"
%s
[[mount]]
path = "/cgi"
type = "cgi"
script = "/bin/true"
%s
`
	for _, tc := range []struct {
		name                string
		top, app, wsgi, cgi string
		wantApp, wantWSGI   time.Duration
		wantCGI             time.Duration
	}{
		{name: "defaults", wantApp: 0, wantWSGI: DefaultRequestTimeout, wantCGI: DefaultScriptTimeout},
		{name: "top-level", top: `request_timeout = "7s"`, wantApp: 7 * time.Second, wantWSGI: 7 * time.Second, wantCGI: 7 * time.Second},
		{name: "top-level zero", top: `request_timeout = "0s"`, wantApp: 0, wantWSGI: 0, wantCGI: 0},
		{name: "own keys win", top: `request_timeout = "7s"`, app: `request_timeout = "1s"`, wsgi: `request_timeout = "2s"`,
			cgi: `script_timeout = "3s"`, wantApp: time.Second, wantWSGI: 2 * time.Second, wantCGI: 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.top + "\n" + replaceN(apps, tc.app, tc.wsgi, tc.cgi)
			c, err := Parse("", []byte(doc), Overrides{}, env())
			if err != nil {
				t.Fatal(err)
			}
			if c.App.RequestTimeout != tc.wantApp || c.Mounts[0].RequestTimeout != tc.wantWSGI || c.Mounts[1].ScriptTimeout != tc.wantCGI {
				t.Errorf("echo %s, wsgi %s, cgi %s; want %s, %s, %s", c.App.RequestTimeout, c.Mounts[0].RequestTimeout,
					c.Mounts[1].ScriptTimeout, tc.wantApp, tc.wantWSGI, tc.wantCGI)
			}
		})
	}
}

// replaceN fills the %s of s in order.
func replaceN(s string, with ...string) string {
	for _, w := range with {
		s = strings.Replace(s, "%s", w, 1)
	}
	return s
}

func TestRequestTimeoutProblems(t *testing.T) {
	doc := `
request_timeout = "-1s"
slow_request_log = "-1s"
[app]
type = "cgi"
script = "/bin/true"
request_timeout = "5s"
`
	_, err := Parse("", []byte(doc), Overrides{}, env())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"request_timeout: must not be negative", "slow_request_log: must not be negative",
		`app.request_timeout: is not used when the type is "cgi"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in\n%v", want, err)
		}
	}
}
