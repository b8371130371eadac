package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/benchkit"
)

// wsgiApp is the trivial WSGI application gunicorn serves: a small JSON
// answer with a Content-Length, like arbiter's echo app but without the
// request description.
const wsgiApp = `# written by internal/bench/reload
import os

def application(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    body = ('{"ok":true,"pid":%d}\n' % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
`

// gunicornArgs are the reference settings: the gthread worker, 2
// processes of 4 threads, keep-alive 5 s.
var gunicornArgs = []string{"--worker-class", "gthread", "--threads", "4", "-w", "2", "--keep-alive", "5"}

const gunicornMissing = "gunicorn is not installed: apt-get install -y gunicorn (Debian's gunicorn 20.1, python3)"

// gunicornBinary returns the gunicorn executable on PATH.
func gunicornBinary() (string, error) {
	p, err := exec.LookPath("gunicorn")
	if err != nil {
		return "", errors.New(gunicornMissing)
	}
	return p, nil
}

func gunicornVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "gunicorn"
	}
	return strings.TrimSpace(string(out))
}

// gunicornProc is a running gunicorn master and its workers, in their own
// process group.
type gunicornProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startGunicorn writes the app into dir, starts gunicorn on addr and waits
// until it answers 200.
func startGunicorn(bin, dir, addr string) (*gunicornProc, error) {
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(wsgiApp), 0o644); err != nil {
		return nil, err
	}
	g := &gunicornProc{done: make(chan struct{}), log: filepath.Join(dir, "gunicorn.log")}
	out, err := os.Create(g.log)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	args := append(append([]string{}, gunicornArgs...), "-b", addr, "--chdir", dir,
		"--pid", filepath.Join(dir, "gunicorn.pid"), "--log-level", "info", "app:application")
	g.cmd = exec.Command(bin, args...)
	g.cmd.Dir = dir
	g.cmd.Stdout, g.cmd.Stderr = out, out
	g.cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gunicorn: %w", err)
	}
	go func() {
		_ = g.cmd.Wait()
		close(g.done)
	}()
	c := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-g.done:
			b, _ := os.ReadFile(g.log)
			return nil, fmt.Errorf("gunicorn exited at start-up:\n%s", b)
		default:
		}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return g, nil
			}
		}
		if time.Now().After(deadline) {
			g.stop()
			b, _ := os.ReadFile(g.log)
			return nil, fmt.Errorf("gunicorn not answering on %s after 30 s (%v):\n%s", addr, err, b)
		}
	}
}

func (g *gunicornProc) signal(kind string) (int, error) {
	pid := g.cmd.Process.Pid
	if err := syscall.Kill(pid, signalOf[kind]); err != nil {
		return pid, fmt.Errorf("kill -%s %d: %w", kind, pid, err)
	}
	return pid, nil
}

// whyNoUSR2 is printed with the gunicorn scenario.
const whyNoUSR2 = "USR2 is not sent to gunicorn: its USR2 only starts a second master next to the old one; " +
	"the hand-off is the operator's WINCH then QUIT to the old master, so there is no automatic upgrade to measure"

func (g *gunicornProc) upgrade(time.Duration) (int, string, error) {
	return g.cmd.Process.Pid, "", errors.New(whyNoUSR2)
}

// notes summarises gunicorn's log: worker boots and the error lines.
func (g *gunicornProc) notes() []string {
	b, err := os.ReadFile(g.log)
	if err != nil {
		return []string{"gunicorn log: " + err.Error()}
	}
	boots, errs := 0, 0
	var first string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "Booting worker"):
			boots++
		case strings.Contains(line, "[ERROR]") || strings.Contains(line, "[CRITICAL]") || strings.Contains(line, "Traceback"):
			errs++
			if first == "" {
				first = line
			}
		}
	}
	out := []string{fmt.Sprintf("gunicorn log: %d worker boots, %d error lines", boots, errs)}
	if first != "" {
		out = append(out, "gunicorn log, first error: "+benchkit.Clip(first, 300))
	}
	return out
}

// stop sends TERM to the master and kills the group after 15 s.
func (g *gunicornProc) stop() error {
	pid := g.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
	}
	var err error
	if left := benchkit.GroupLeft(pid, 2*time.Second); len(left) > 0 {
		err = fmt.Errorf("gunicorn left processes behind in group %d: %v (killed)", pid, left)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-g.done
	return err
}
