package cgi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/arbiter-dev/arbiter/internal/fds"
	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxScripts = 64
	DefaultPath       = "/usr/local/bin:/usr/bin:/bin"
	DefaultSoftware   = "arbiter"
)

// maxRedirects bounds the chain of local redirects (RFC 3875 §6.2.2) one
// request may follow; one more is a loop, answered 502.
const maxRedirects = 10

// Config configures a Handler. Exactly one of Script and Root is set.
type Config struct {
	// Script is the one program that answers every request under Prefix.
	Script string
	// Root is a directory of scripts mounted under Prefix.
	Root string
	// Prefix is the URL path the script or Root is mounted under; "" means
	// "/". A trailing slash does not matter.
	Prefix string
	// Interpreters maps an extension (".py") to the command that runs
	// scripts with it: a program (looked up in PATH by New) and arguments,
	// separated by spaces.
	Interpreters map[string]string
	// Extensions, when not empty, are the only script extensions that run
	// (403 for others); "" stands for a name without an extension.
	Extensions []string
	// Dir is every script's working directory; "" means the script's own.
	Dir string
	// PassEnv names the variables of the worker's environment that scripts
	// get. nil means {"PATH"}. Without PATH scripts get DefaultPath.
	PassEnv []string
	// PassAuthorization passes the Authorization header on as
	// HTTP_AUTHORIZATION.
	PassAuthorization bool
	// Timeout is a script run's time limit (504 after it); 0 means none.
	Timeout time.Duration
	// SlowLog logs a script still running after it, once, with its path,
	// pid and time so far (php-fpm's slowlog; a script's stack is not
	// Go's to read). 0, or not below Timeout (whose line says it): off.
	SlowLog time.Duration
	// MaxScripts bounds the scripts running at once; 0 means
	// DefaultMaxScripts.
	MaxScripts int
	// MaxScriptsWait is how long a request waits for a free slot before
	// it gets 503.
	MaxScriptsWait time.Duration
	// ServerSoftware is SERVER_SOFTWARE; "" means DefaultSoftware.
	ServerSoftware string
	// Log receives script stderr, exit statuses and failures.
	Log zerolog.Logger
}

// Handler runs CGI scripts. It is safe for concurrent use.
type Handler struct {
	script   string // absolute, or ""
	root     string // absolute, or ""
	prefix   string // without a trailing slash; "" for "/"
	interp   map[string][]string
	exts     map[string]bool // nil: any
	dir      string
	baseEnv  []string // pass_env values, "NAME=value"
	passAuth bool
	timeout  time.Duration
	slow     time.Duration
	wait     time.Duration
	software string
	log      zerolog.Logger

	slots   chan struct{}
	devNull int // every script's stdin when it gets no body; -1 once closed

	mu      sync.Mutex
	closed  bool
	running map[*proc]struct{}
	active  sync.WaitGroup // requests inside ServeHTTP
}

// New checks c and returns a Handler. It fails when the script or the root
// is not usable, or an interpreter cannot be found. The worker's environment
// is read now, for PassEnv.
//
// New also marks every file descriptor of the process above 2 close-on-exec
// (see the package documentation), so that none reaches a script.
func New(c Config) (*Handler, error) {
	h := &Handler{
		prefix:   strings.TrimSuffix(c.Prefix, "/"),
		dir:      c.Dir,
		passAuth: c.PassAuthorization,
		timeout:  c.Timeout,
		slow:     c.SlowLog,
		wait:     c.MaxScriptsWait,
		software: c.ServerSoftware,
		log:      c.Log,
		running:  map[*proc]struct{}{},
	}
	if h.software == "" {
		h.software = DefaultSoftware
	}
	if c.Prefix != "" && !strings.HasPrefix(c.Prefix, "/") {
		return nil, fmt.Errorf("cgi prefix %q: must start with /", c.Prefix)
	}
	if c.Timeout < 0 || c.MaxScriptsWait < 0 || c.MaxScripts < 0 {
		return nil, errors.New("cgi: negative timeout, wait or max_scripts")
	}
	n := c.MaxScripts
	if n == 0 {
		n = DefaultMaxScripts
	}
	h.slots = make(chan struct{}, n)

	h.interp = make(map[string][]string, len(c.Interpreters))
	for ext, cmd := range c.Interpreters {
		f := strings.Fields(cmd)
		if len(f) == 0 {
			return nil, fmt.Errorf("cgi interpreter for %q: empty command", ext)
		}
		p, err := exec.LookPath(f[0])
		if err != nil {
			return nil, fmt.Errorf("cgi interpreter for %q: %w", ext, err)
		}
		if p, err = filepath.Abs(p); err != nil {
			return nil, fmt.Errorf("cgi interpreter for %q: %w", ext, err)
		}
		f[0] = p
		h.interp[ext] = f
	}
	if len(c.Extensions) > 0 {
		h.exts = make(map[string]bool, len(c.Extensions))
		for _, e := range c.Extensions {
			h.exts[e] = true
		}
	}

	switch {
	case c.Script != "" && c.Root != "":
		return nil, errors.New("cgi: set Script or Root, not both")
	case c.Script != "":
		abs, err := filepath.Abs(c.Script)
		if err != nil {
			return nil, fmt.Errorf("cgi script: %w", err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("cgi script: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("cgi script %s: not a regular file", abs)
		}
		if _, code, why := h.command(abs, fi); code != 0 {
			return nil, fmt.Errorf("cgi script %s: %s", abs, why)
		}
		h.script = abs
	case c.Root != "":
		abs, err := filepath.Abs(c.Root)
		if err != nil {
			return nil, fmt.Errorf("cgi root: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("cgi root: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("cgi root %s: not a directory", abs)
		}
		h.root = abs
	default:
		return nil, errors.New("cgi: Script or Root is required")
	}
	if h.dir != "" {
		if fi, err := os.Stat(h.dir); err != nil {
			return nil, fmt.Errorf("cgi working directory: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("cgi working directory %s: not a directory", h.dir)
		}
	}

	pass := c.PassEnv
	if pass == nil {
		pass = []string{"PATH"}
	}
	hasPath := false
	for _, name := range pass {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return nil, fmt.Errorf("cgi pass_env: invalid name %q", name)
		}
		if v, ok := os.LookupEnv(name); ok && !strings.ContainsRune(v, 0) {
			h.baseEnv = append(h.baseEnv, name+"="+v)
			hasPath = hasPath || name == "PATH"
		}
	}
	if !hasPath {
		h.baseEnv = append(h.baseEnv, "PATH="+DefaultPath)
	}
	if err := fds.CloseOnExecAll(); err != nil {
		return nil, fmt.Errorf("cgi: %w", err)
	}
	dn, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgi: open %s: %w", os.DevNull, err)
	}
	h.devNull = dn
	return h, nil
}

// ServeHTTP runs the script the request names and relays its response.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable)
		return
	}
	h.active.Add(1)
	h.mu.Unlock()
	defer h.active.Done()

	c := &call{r: r, front: cgivars.Env(r)}
	for {
		next := h.serve(w, c)
		if next == nil {
			return
		}
		c = next
	}
}

// Close kills every running script's process group and waits, up to 5
// seconds, for the requests running them to finish. Requests after Close
// get 503. The worker calls it when it exits, so that no script outlives it.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	for p := range h.running {
		p.kill(reasonShutdown)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.active.Wait(); close(done) }()
	select {
	case <-done:
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.devNull >= 0 {
			unix.Close(h.devNull)
			h.devNull = -1
		}
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("cgi: requests still running 5s after Close")
	}
}

// acquire takes a script slot, waiting up to h.wait. It returns false when
// none came free in time (or ctx ended, or h was closed).
func (h *Handler) acquire(ctx context.Context) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
	}
	if h.wait <= 0 {
		return false
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func (h *Handler) release() { <-h.slots }

// track registers a running process so that Close can kill it; it returns
// false when h is closed.
func (h *Handler) track(p *proc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.running[p] = struct{}{}
	return true
}

func (h *Handler) untrack(p *proc) {
	h.mu.Lock()
	delete(h.running, p)
	h.mu.Unlock()
}

// httpError writes a plain-text error: the status text only, never a path
// or an error message.
func httpError(w http.ResponseWriter, code int) {
	http.Error(w, http.StatusText(code), code)
}
