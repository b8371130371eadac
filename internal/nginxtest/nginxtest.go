// Package nginxtest runs a real nginx as a test (or benchmark) fixture: a
// private prefix directory, a generated configuration with every path
// (pid, temp files, logs) inside it, one server listening on a free
// 127.0.0.1 port, and a stop that leaves no nginx process behind.
//
// Launch and Stop are for any program (internal/bench/nginx); Start and
// Require wrap them for tests: nginx missing skips the test, unless the
// environment variable CI is non-empty, where it fails it (CI must not skip
// interop silently).
package nginxtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/arbiter-dev/arbiter/internal/freeport"
	"github.com/arbiter-dev/arbiter/internal/procfs"
)

// EnvBinary names the environment variable that overrides where nginx is.
const EnvBinary = "NGINX"

// Binary returns the nginx executable: $NGINX if set, else nginx on PATH,
// else /usr/sbin/nginx (Debian's path, often not on a user's PATH).
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("$%s: %w", EnvBinary, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/nginx"
	if err := executable(debian); err != nil {
		return "", fmt.Errorf("nginx not found on PATH or at %s (Debian/Ubuntu: apt-get install nginx-light)", debian)
	}
	return debian, nil
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// Config is what goes into the generated nginx.conf besides the fixed parts
// (daemon off, pid, error_log, temp paths, the listen directive).
type Config struct {
	// Main holds extra top-level directives.
	Main string
	// HTTP holds directives for the http block, before the server block:
	// upstream blocks, client_max_body_size, …
	HTTP string
	// Server holds the server block's directives: locations.
	Server string
	// MasterProcess runs nginx with a master and WorkerProcesses workers
	// (default 1); otherwise nginx is one process (master_process off).
	MasterProcess   bool
	WorkerProcesses int
	// ErrorLogLevel is error_log's level; default "info", so that client
	// aborts and upstream trouble are both in the log.
	ErrorLogLevel string
	// AccessLog writes access.log in the prefix directory; default off.
	AccessLog bool
}

// Nginx is a running nginx.
type Nginx struct {
	Addr    string // 127.0.0.1:port of the server block
	Dir     string // prefix directory: nginx.conf, logs, temp files
	Conf    string // path of the generated nginx.conf
	ErrLog  string // path of the error log
	Bin     string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stopped bool
}

// Launch writes a configuration for cfg into dir (which must exist and
// should be empty), starts nginx on a free 127.0.0.1 port and waits until it
// accepts connections. A port taken between choosing and binding it is
// retried with another. On failure the error includes the error log's tail.
func Launch(dir string, cfg Config) (*Nginx, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		n, err := launchOnce(bin, dir, cfg)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, errAddrInUse) || attempt == 4 {
			return nil, err
		}
	}
}

var errAddrInUse = errors.New("address already in use")

func launchOnce(bin, dir string, cfg Config) (*Nginx, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	n := &Nginx{Addr: addr, Dir: dir, Bin: bin, done: make(chan struct{}),
		Conf: filepath.Join(dir, "nginx.conf"), ErrLog: filepath.Join(dir, "error.log")}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("nginx prefix: %w", err)
	}
	_ = os.Remove(n.ErrLog)
	if err := os.WriteFile(n.Conf, []byte(render(cfg, dir, addr)), 0o644); err != nil {
		return nil, fmt.Errorf("write nginx.conf: %w", err)
	}
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return nil, fmt.Errorf("nginx stderr: %w", err)
	}
	defer out.Close()
	n.cmd = exec.Command(bin, "-p", dir+"/", "-c", n.Conf, "-e", n.ErrLog)
	n.cmd.Stdout, n.cmd.Stderr = out, out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() {
		n.waitErr = n.cmd.Wait()
		close(n.done)
	}()
	if err := n.waitReady(10 * time.Second); err != nil {
		_ = n.Stop(5 * time.Second)
		log := n.ErrorLog() + readTail(filepath.Join(dir, "stderr.log"))
		if strings.Contains(log, "Address already in use") {
			return nil, fmt.Errorf("%w: %s", errAddrInUse, addr)
		}
		return nil, fmt.Errorf("%w\n%s", err, tail(log, 4000))
	}
	return n, nil
}

// waitReady waits until nginx accepts a connection on Addr.
func (n *Nginx) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-n.done:
			return fmt.Errorf("nginx exited at start-up: %v", n.waitErr)
		default:
		}
		c, err := net.DialTimeout("tcp", n.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx not accepting on %s after %v: %w", n.Addr, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URL returns http://Addr + path.
func (n *Nginx) URL(path string) string { return "http://" + n.Addr + path }

// PID returns the pid of nginx (the master when MasterProcess is set).
func (n *Nginx) PID() int { return n.cmd.Process.Pid }

// Stop asks nginx to finish gracefully (SIGQUIT), kills its process group
// after timeout, and then checks that no process of the group is left; a
// leftover is killed and reported as an error. Stop is idempotent.
func (n *Nginx) Stop(timeout time.Duration) error {
	if n.stopped {
		return nil
	}
	n.stopped = true
	pid := n.cmd.Process.Pid
	select {
	case <-n.done:
	default:
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		select {
		case <-n.done:
		case <-time.After(timeout):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-n.done
		}
	}
	// Workers (master_process on) leave with their master; give the kernel
	// a moment to reap them, then insist.
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := procfs.Group(pid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			return fmt.Errorf("nginx left processes behind in group %d: %v (killed)", pid, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Done is closed when the nginx process has exited.
func (n *Nginx) Done() <-chan struct{} { return n.done }

// render builds nginx.conf.
func render(cfg Config, dir, addr string) string {
	level := cfg.ErrorLogLevel
	if level == "" {
		level = "info"
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	var b strings.Builder
	b.WriteString("# generated by internal/nginxtest\n")
	b.WriteString("daemon off;\n")
	if cfg.MasterProcess {
		w := cfg.WorkerProcesses
		if w <= 0 {
			w = 1
		}
		b.WriteString("master_process on;\n")
		fmt.Fprintf(&b, "worker_processes %d;\n", w)
		if os.Geteuid() == 0 {
			// Workers would switch to nobody and lose access to the
			// prefix directory's temp files.
			b.WriteString("user root root;\n")
		}
	} else {
		b.WriteString("master_process off;\n")
	}
	fmt.Fprintf(&b, "pid %s;\n", p("nginx.pid"))
	fmt.Fprintf(&b, "error_log %s %s;\n", p("error.log"), level)
	b.WriteString(cfg.Main + "\n")
	b.WriteString("events { worker_connections 4096; }\n")
	b.WriteString("http {\n")
	if cfg.AccessLog {
		b.WriteString("    log_format up '$remote_addr $request $status $body_bytes_sent $upstream_addr $upstream_status $request_time';\n")
		fmt.Fprintf(&b, "    access_log %s up;\n", p("access.log"))
	} else {
		b.WriteString("    access_log off;\n")
	}
	for _, t := range []string{"client_body", "proxy", "fastcgi", "scgi", "uwsgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %s;\n", t, p("tmp/"+t))
	}
	b.WriteString(indent(cfg.HTTP, "    "))
	b.WriteString("    server {\n")
	fmt.Fprintf(&b, "        listen %s;\n", addr)
	b.WriteString(indent(cfg.Server, "        "))
	b.WriteString("    }\n}\n")
	return b.String()
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}

// FreeAddr returns a loopback TCP address that was free a moment ago, for a
// server to listen on, never the same twice in a process (freeport.Addr);
// another process may take it first.
func FreeAddr() (string, error) { return freeport.Addr() }

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Version is the installed nginx's version ("nginx/1.22.1"), or "nginx"
// when it cannot be told.
func Version() string {
	bin, err := Binary()
	if err != nil {
		return "nginx"
	}
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "version: "); ok {
		return v
	}
	return "nginx"
}
