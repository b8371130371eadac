package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test must run as root under CI")
		}
		t.Skip("needs root")
	}
}

// publicDir makes a directory every user can read and enter (t.TempDir's
// are 0700, closed to a worker running as nobody).
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "arbiter-public-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// As PID 1 of a new pid namespace (a container's entrypoint), arbiter reaps
// the orphans a CGI script leaves behind, and stops gracefully on SIGTERM.
func TestPID1ReapsOrphans(t *testing.T) {
	needRoot(t)
	unshare := needTool(t, "unshare")
	script := writeScript(t, publicDir(t), "orphans.sh",
		"#!/bin/sh\n( sleep 0.2 & )\nprintf 'Content-Type: text/plain\\r\\n\\r\\nleft an orphan\\n'\n")
	f := newFixture(t, fmt.Sprintf(`
workers = 1
[log]
level = "debug"
[[listen]]
address = "{{addr}}"
[app]
type = "cgi"
script = %q
`, script))
	f.srv = proctest.Start(t, unshare, []string{"--pid", "--fork", "--kill-child", proctest.Build(t, "./cmd/arbiter"), "run", f.cfg})
	f.srv.WaitMsg(0, 30*time.Second, "generation ready")
	var master int
	proctest.Eventually(t, 5*time.Second, "the master under unshare", func() bool {
		kids := proctest.Children(f.srv.PID)
		if len(kids) == 1 {
			master = kids[0]
		}
		return master != 0
	})
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", master))
	if !strings.Contains(string(status), fmt.Sprintf("NSpid:\t%d\t1\n", master)) {
		t.Fatalf("the master is not PID 1 of its namespace:\n%s", status)
	}
	const requests = 5
	for range requests {
		resp, err := client.Get("http://" + f.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "left an orphan") {
			t.Fatalf("reply %q", b)
		}
	}
	proctest.Eventually(t, 10*time.Second, "every orphan reaped by the master", func() bool {
		n := 0
		for _, e := range f.srv.Events() {
			if e.Msg() == "reaped an unknown child" {
				n++
			}
		}
		return n >= requests && len(proctest.Zombies(master)) == 0
	})
	if err := syscall.Kill(master, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := f.srv.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM to PID 1", code)
	}
}

// CGI scripts run as the workers' user.
func TestCGIScriptsRunAsUser(t *testing.T) {
	needRoot(t)
	script := writeScript(t, publicDir(t), "id.sh", "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nid -u\n")
	f := start(t, fmt.Sprintf(`
workers = 1
user = "nobody"
[[listen]]
address = "{{addr}}"
[app]
type = "cgi"
script = %q
`, script))
	resp, err := client.Get("http://" + f.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(b)) != "65534" {
		t.Fatalf("the script ran as uid %q, want 65534 (nobody)", b)
	}
}
