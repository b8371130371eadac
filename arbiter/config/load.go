package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Overrides come from command-line flags; zero values mean "not given".
type Overrides struct {
	Workers int      // --workers
	Binds   []string // --bind (repeatable): replaces every [[listen]] with http listeners on these addresses
	Pidfile string   // --pidfile
	// DefaultApp is the app type when the file sets none: "go" in a program
	// that passes a handler to arbiter.Main, else echo.
	DefaultApp string
}

// Flag names, as they appear in problems about override values.
const (
	flagWorkers = "--workers"
	flagBind    = "--bind"
	flagPidfile = "--pidfile"
)

// Environment variables that supply defaults.
const (
	envWebConcurrency = "WEB_CONCURRENCY"
	envPort           = "PORT"
)

// ErrRead wraps the error of a config file that cannot be read.
var ErrRead = errors.New("read config")

// Load reads and validates the file at path. path "" means no file: defaults
// only (plus overrides). A file that cannot be read gives a wrapped os error;
// every problem with its content, the environment or the overrides gives
// Errors. On error the *Config is nil.
func Load(path string, o Overrides) (*Config, error) {
	if path == "" {
		return build("", nil, false, o, os.Getenv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRead, err)
	}
	return Parse(path, data, o, os.Getenv)
}

// Parse is Load on bytes; name is used in error messages; getenv is
// os.Getenv in production (nil means an empty environment).
//
// Relative paths in data resolve against the directory of name (made
// absolute against the working directory); with name "" they resolve against
// the working directory, problems say "<config>", and Config.Path is "".
func Parse(name string, data []byte, o Overrides, getenv func(string) string) (*Config, error) {
	return build(name, data, true, o, getenv)
}

// build is Load and Parse: it decodes the file (when hasFile), fills in the
// defaults that come from the environment, applies the overrides and
// validates the result.
func build(name string, data []byte, hasFile bool, o Overrides, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("config: working directory: %w", err)
	}

	c := defaults()
	if o.DefaultApp != "" {
		c.App.Type = o.DefaultApp
	}
	d := &decoder{ix: buildIndex(nil), bad: map[string]bool{}}
	r := &parseReporter{d: d, origins: map[string]string{}}
	base := wd
	workersSet, controlSet := false, false

	if hasFile {
		d.file = name
		if name == "" {
			d.file = "<config>"
		} else {
			c.Path = filepath.Join(wd, name)
			if filepath.IsAbs(name) {
				c.Path = filepath.Clean(name)
			}
			base = filepath.Dir(c.Path)
		}
		// An editor's UTF-8 byte order mark is not TOML; columns on the
		// first line count from after it, as editors show them.
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		var doc map[string]any
		if err := toml.Unmarshal(data, &doc); err != nil {
			return nil, Errors{syntaxProblem(d.file, err)}
		}
		d.ix = buildIndex(data)
		d.walk("", doc, rootSchema(c))
		_, workersSet = doc["workers"]
		_, controlSet = doc["control_socket"]
		resolvePaths(c, base)
	}

	timeoutDefaults(c)
	wsgi := c.UsesWSGI()
	if wsgi {
		wsgiDefaults(c, getenv, r)
	}
	if !workersSet && o.Workers == 0 && wsgi {
		c.Workers = 1
	} else if !workersSet && o.Workers == 0 {
		c.Workers = min(runtime.NumCPU(), maxWorkers)
		if s := getenv(envWebConcurrency); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || !allDigits(s) {
				r.add(Problem{Key: envWebConcurrency, Msg: fmt.Sprintf("must be a positive integer, got %q", s)})
			} else {
				c.Workers = n
				r.origins["workers"] = envWebConcurrency
			}
		}
	}
	if len(c.Listen) == 0 && len(o.Binds) == 0 {
		c.Listen = []Listen{{Address: DefaultAddress, Protocol: ProtoHTTP}}
		c.ListenDefaulted = true
		if s := getenv(envPort); s != "" {
			if n, err := strconv.Atoi(s); err != nil || !allDigits(s) || n < 1 || n > 65535 {
				r.add(Problem{Key: envPort, Msg: fmt.Sprintf("must be a port number from 1 to 65535, got %q", s)})
			} else {
				c.Listen[0].Address = "0.0.0.0:" + s
				r.origins["listen"] = envPort
			}
		}
	}

	if o.Workers != 0 {
		c.Workers = o.Workers
		r.origins["workers"] = flagWorkers
	}
	if o.Pidfile != "" {
		c.Pidfile = resolve(wd, o.Pidfile)
		r.origins["pidfile"] = flagPidfile
	}
	if len(o.Binds) > 0 {
		c.Listen = make([]Listen, len(o.Binds))
		for i, b := range o.Binds {
			c.Listen[i] = Listen{Address: resolveAddress(wd, b), Protocol: ProtoHTTP}
		}
		r.origins["listen"] = flagBind
	}

	if !workersSet && r.origin("workers") == "" && c.WorkersMax > 0 {
		// A dynamic fleet starts at its minimum unless told otherwise.
		c.Workers = max(c.WorkersMin, 1)
	}
	if !controlSet {
		c.ControlSocket = ControlSocketPath(c.Path, c.Pidfile, getenv, os.Getuid())
	}

	validate(c, r)
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, Errors(d.problems)
	}
	forgetSet(c)
	return c, nil
}

func defaults() *Config {
	return &Config{
		Timeout:               DefaultTimeout,
		GracefulTimeout:       DefaultGracefulTimeout,
		MaxBootFailures:       DefaultMaxBootFailures,
		ReloadStrategy:        DefaultReloadStrategy,
		ReloadBatch:           DefaultReloadBatch,
		UpgradeTimeout:        DefaultUpgradeTimeout,
		ScaleDownAfter:        DefaultScaleDownAfter,
		Backlog:               DefaultBacklog,
		Keepalive:             DefaultKeepalive,
		WorkerConnections:     DefaultWorkerConnections,
		ReadHeaderTimeout:     DefaultReadHeaderTimeout,
		ReadTimeout:           DefaultReadTimeout,
		WriteTimeout:          DefaultWriteTimeout,
		ForwardedAllowIPs:     append([]string(nil), DefaultForwardedAllowIPs...),
		LimitRequestLine:      DefaultLimitRequestLine,
		LimitRequestFields:    DefaultLimitRequestFields,
		LimitRequestFieldSize: DefaultLimitRequestFieldSize,
		Umask:                 -1,
		Log:                   Log{Level: "info", Format: "auto"},
		App: App{
			Type:           AppEcho,
			Index:          []string{"index.html"},
			Prefix:         DefaultPrefix,
			PassEnv:        append([]string(nil), DefaultPassEnv...),
			ScriptTimeout:  DefaultScriptTimeout,
			MaxScripts:     DefaultMaxScripts,
			MaxScriptsWait: DefaultMaxScriptsWait,
		},
	}
}

// resolvePaths makes the relative paths the file gave absolute against base,
// the file's directory.
func resolvePaths(c *Config, base string) {
	c.Chdir = resolve(base, c.Chdir)
	if strings.HasPrefix(c.Status.Address, "unix:") {
		c.Status.Address = resolveAddress(base, c.Status.Address)
	}
	c.Pidfile = resolve(base, c.Pidfile)
	c.ControlSocket = resolve(base, c.ControlSocket)
	c.Log.File = resolve(base, c.Log.File)
	if c.Log.AccessLog != "-" {
		c.Log.AccessLog = resolve(base, c.Log.AccessLog)
	}
	resolveApp(&c.App, base)
	for i := range c.Mounts {
		resolveApp(&c.Mounts[i].App, base)
	}
	for i := range c.Listen {
		l := &c.Listen[i]
		l.Address = resolveAddress(base, l.Address)
		l.TLS.Cert, l.TLS.Key, l.TLS.ClientCA = resolve(base, l.TLS.Cert), resolve(base, l.TLS.Key), resolve(base, l.TLS.ClientCA)
	}
}

// resolveApp makes an app's relative paths absolute against base. A WSGI
// app's interpreter is resolved only when it is a path ("venv/bin/python"),
// not a name looked up in PATH ("python3").
func resolveApp(a *App, base string) {
	a.Root, a.Script, a.Workdir = resolve(base, a.Root), resolve(base, a.Script), resolve(base, a.Workdir)
	a.Virtualenv, a.TempDir = resolve(base, a.Virtualenv), resolve(base, a.TempDir)
	if strings.Contains(a.Python, "/") {
		a.Python = resolve(base, a.Python)
	}
	for i, p := range a.PythonPath {
		a.PythonPath[i] = resolve(base, p)
	}
}

// resolve makes p absolute against base and cleans it; "" stays "".
func resolve(base, p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

// resolveAddress resolves the path of a "unix:" address; other addresses are
// returned as they are.
func resolveAddress(base, addr string) string {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok && p != "" {
		return "unix:" + resolve(base, p)
	}
	return addr
}

// parseReporter turns validate's findings into Problems: a value that came
// from a flag or the environment is reported under that name; one from the
// file with its position; one under a key that already has a decoding
// problem not at all (the decoding problem says it better).
type parseReporter struct {
	d       *decoder
	origins map[string]string // key path prefix → flag or environment variable that set it
}

func (r *parseReporter) add(p Problem) { r.d.problems = append(r.d.problems, p) }

func (r *parseReporter) origin(key string) string {
	for k := key; k != ""; k = parentKey(k) {
		if o, ok := r.origins[k]; ok {
			return o
		}
	}
	return ""
}

func (r *parseReporter) problem(key, msg string) {
	if o := r.origin(key); o != "" {
		r.add(Problem{Key: o, Msg: msg})
		return
	}
	for k := key; k != ""; k = parentKey(k) {
		if r.d.bad[k] {
			return
		}
	}
	at := r.d.ix.valueAt(key)
	r.add(Problem{File: r.d.file, Line: at.line, Col: at.col, Key: key, Msg: msg})
}

func (r *parseReporter) where(key string) string {
	if o := r.origin(key); o != "" {
		return "an earlier " + o
	}
	if at := r.d.ix.keyAt(key); at.valid() {
		return fmt.Sprintf("%s (line %d)", key, at.line)
	}
	return key
}
