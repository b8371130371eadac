package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// TestCGIOverHTTP runs a shell CGI script behind arbiter's own HTTP
// listener: the reply carries the script's variables, and what the script
// writes to stderr reaches the master's log tagged with the script.
func TestCGIOverHTTP(t *testing.T) {
	f := newFixture(t, `
workers = 1
[[listen]]
address = "{{addr}}"
[app]
type = "cgi"
root = "cgi"
prefix = "/cgi-bin/"
script_timeout = "10s"
`)
	script := filepath.Join(f.dir, "cgi", "hello.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	const body = `#!/bin/sh
echo "hello on stderr from $$" >&2
printf 'Status: 201 Created\nContent-Type: text/plain\nX-Script: yes\n\n'
printf '%s|%s|%s|%s' "$SCRIPT_NAME" "$PATH_INFO" "$QUERY_STRING" "$(cat)"
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	f.srv = proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", f.cfg})
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")

	resp, err := client.Post("http://"+f.addr+"/cgi-bin/hello.sh/extra?q=1", "text/plain", strings.NewReader("posted"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("X-Script") != "yes" || string(got) != "/cgi-bin/hello.sh|/extra|q=1|posted" {
		t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, got)
	}
	e, _ := f.srv.WaitEvent(0, 10*time.Second, "the script's stderr in the log", func(e proctest.Event) bool {
		return e.Msg() == "cgi stderr" && strings.HasPrefix(e.Str("stderr"), "hello on stderr from ")
	})
	if e.Str("script") != script || e.Int("pid") <= 0 || e.Str("level") != "warn" {
		t.Errorf("stderr event %v", e)
	}
}
