package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// examples/quickstart, what `make run` starts: static files, the echo app
// and a CGI script side by side. The test runs a copy on free ports.
func TestQuickstart(t *testing.T) {
	src := filepath.Join(proctest.ModuleRoot(t), "examples", "quickstart")
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", src+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, "run"))
	os.Mkdir(filepath.Join(dir, "run"), 0o755)
	http, fcgi, status := proctest.FreeAddr(t), proctest.FreeAddr(t), proctest.FreeAddr(t)
	b, _ := os.ReadFile(filepath.Join(dir, "app.toml"))
	cfg := strings.NewReplacer("127.0.0.1:8000", http, "127.0.0.1:9000", fcgi, "127.0.0.1:9100", status).Replace(string(b))
	os.WriteFile(filepath.Join(dir, "app.toml"), []byte(cfg), 0o644)

	srv := proctest.Start(t, proctest.Build(t, "./cmd/arbiter"), []string{"run", filepath.Join(dir, "app.toml")})
	srv.WaitMsg(0, 30*time.Second, "generation ready")
	fetch := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + http + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := fetch("/"); code != 200 || !strings.Contains(body, "<html") {
		t.Fatalf("static index: %d %.200s", code, body)
	}
	code, body := fetch("/echo/some/where?x=1")
	var r echo.Reply
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil || r.Path != "/echo/some/where" || r.Query != "x=1" {
		t.Fatalf("echo: %d %s", code, body)
	}
	if code, body := fetch("/cgi-bin/hello.sh/extra?q=1"); code != 200 ||
		!strings.Contains(body, "SCRIPT_NAME=/cgi-bin/hello.sh PATH_INFO=/extra QUERY_STRING=q=1") {
		t.Fatalf("cgi: %d %s", code, body)
	}
	if code, _ := fetch("/.gitignore"); code != 404 {
		t.Fatalf("dotfile: %d", code)
	}
	resp, err := client.Get("http://" + status + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status server: %v %v", resp, err)
	}
	resp.Body.Close()
	srv.Signal(syscall.SIGTERM)
	if code := srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
