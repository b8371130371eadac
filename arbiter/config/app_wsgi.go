package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of the [app] keys of type "wsgi" (docs/wsgi.md).
const (
	DefaultPython         = "python3"
	DefaultThreads        = 1
	DefaultRequestTimeout = 30 * time.Second
	DefaultBufferSize     = 1 << 20
	// maxProcesses is the most app processes one worker may run (its
	// heartbeat lists them all); more processes means more workers.
	maxProcesses = 256
	maxThreads   = 1024
)

// moduleSpec is gunicorn's APP_MODULE: a dotted module name, optionally ":"
// and a callable: a dotted attribute, optionally called with literal
// arguments ("create_app()", "create_app('prod')").
var moduleSpec = regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:\s*[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\s*(\(.*\))?\s*)?$`)

// wsgiSchema adds the keys of type "wsgi" to an [app] schema, noting each
// one the file sets: a key set to its zero value is then checked, not taken
// for unset, and one set on another type of app is a problem.
func wsgiSchema(s schema, a *App) {
	for k, set := range map[string]setter{
		"module":              stringKey(&a.Module),
		"python":              stringKey(&a.Python),
		"virtualenv":          stringKey(&a.Virtualenv),
		"pythonpath":          stringsKey(&a.PythonPath),
		"env":                 stringMapKey(&a.Env),
		"processes":           intKey(&a.Processes),
		"threads":             intKey(&a.Threads),
		"preload":             boolKey(&a.Preload),
		"sched_batch":         boolKey(&a.SchedBatch),
		"max_requests":        intKey(&a.MaxRequests),
		"max_requests_jitter": intKey(&a.MaxRequestsJitter),
		"max_memory":          sizeKey(&a.MaxMemory),
		"buffer_size":         sizeKey(&a.BufferSize),
		"max_body_size":       sizeKey(&a.MaxBodySize),
		"temp_dir":            stringKey(&a.TempDir),
	} {
		s[k] = func(d *decoder, path string, v any) {
			set(d, path, v)
			if a.wsgiSet == nil {
				a.wsgiSet = map[string]bool{}
			}
			a.wsgiSet[k] = true
		}
	}
}

// UsesWSGI reports whether [app] or a [[mount]] is a WSGI app: the workers
// then run app processes.
func (c *Config) UsesWSGI() bool {
	if c.App.Type == AppWSGI {
		return true
	}
	for _, m := range c.Mounts {
		if m.Type == AppWSGI {
			return true
		}
	}
	return false
}

// wsgiDefaults fills in the keys of every WSGI app the file left out.
// processes comes from WEB_CONCURRENCY when it is set (gunicorn's workers
// are Python processes), else the number of CPUs; workers is then 1 unless
// set, since one Go worker serves any number of app processes.
func wsgiDefaults(c *Config, getenv func(string) string, r *parseReporter) {
	procs := runtime.NumCPU()
	if s := getenv(envWebConcurrency); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && allDigits(s) {
			procs = n
		} else {
			r.add(Problem{Key: envWebConcurrency, Msg: fmt.Sprintf("must be a positive integer, got %q", s)})
		}
	}
	apps := []*App{&c.App}
	keys := []string{"app"}
	for i := range c.Mounts {
		apps = append(apps, &c.Mounts[i].App)
		keys = append(keys, fmt.Sprintf("mount[%d]", i))
	}
	for i, a := range apps {
		if a.Type != AppWSGI {
			continue
		}
		if !a.wsgiSet["processes"] {
			a.Processes = procs
			if getenv(envWebConcurrency) != "" {
				r.origins[keys[i]+".processes"] = envWebConcurrency
			}
		}
		if !a.wsgiSet["threads"] {
			a.Threads = DefaultThreads
		}
		if !a.wsgiSet["sched_batch"] {
			a.SchedBatch = true
		}
		if !a.wsgiSet["buffer_size"] {
			a.BufferSize = DefaultBufferSize
		}
		if !a.wsgiSet["python"] {
			a.Python = DefaultPython
			if a.Virtualenv != "" {
				a.Python = filepath.Join(a.Virtualenv, "bin", "python")
			}
		}
	}
}

// validateWSGI checks the [app] keys of type "wsgi". With another type, a
// WSGI key that is set is a problem: the config most likely has the wrong
// type.
func validateWSGI(a *App, key string, r reporter) {
	if a.Type != AppWSGI {
		names := make([]string, 0, len(a.wsgiSet))
		for k := range a.wsgiSet {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			r.problem(key+"."+k, fmt.Sprintf(`is only used when the type is "wsgi", not %q`, a.Type))
		}
		return
	}
	switch {
	case a.Module == "":
		r.problem(key+".type", `"wsgi" needs module, the app as gunicorn names it: module = "myproject.wsgi:application"`)
	case !moduleSpec.MatchString(a.Module):
		r.problem(key+".module", fmt.Sprintf(`must be "package.module:callable", "package.module" (the callable is "application") or "package.module:factory()", got %q`, a.Module))
	}
	venvBad := false
	if a.Virtualenv != "" {
		if fi, err := os.Stat(a.Virtualenv); err != nil || !fi.IsDir() {
			r.problem(key+".virtualenv", fmt.Sprintf("%q is not a directory", a.Virtualenv))
			venvBad = true
		}
	}
	// A bad virtualenv without a python of its own: its interpreter is
	// missing too, which was said above.
	if !venvBad || a.wsgiSet["python"] {
		if p, err := lookPython(a.Python); err != nil {
			k := key + ".python"
			if a.Virtualenv != "" && a.Python == filepath.Join(a.Virtualenv, "bin", "python") {
				k = key + ".virtualenv"
			}
			r.problem(k, err.Error())
		} else {
			a.Python = p
		}
	}
	for i, p := range a.PythonPath {
		k := fmt.Sprintf("%s.pythonpath[%d]", key, i)
		if fi, err := os.Stat(p); err != nil {
			r.problem(k, fmt.Sprintf("cannot use %q: %v", p, unwrapPathError(err)))
		} else if !fi.IsDir() && !strings.HasSuffix(p, ".zip") {
			r.problem(k, fmt.Sprintf("%q is neither a directory nor a .zip file", p))
		}
	}
	names := make([]string, 0, len(a.Env))
	for k := range a.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.HasPrefix(k, "ARBITER_") || strings.IndexByte(a.Env[k], 0) >= 0 {
			r.problem(joinKey(key+".env", k), `must be an environment variable name (not ARBITER_*) with a value without NUL`)
		}
	}
	intRange(r, key+".processes", a.Processes, 1, maxProcesses)
	intRange(r, key+".threads", a.Threads, 1, maxThreads)
	intRange(r, key+".max_requests", a.MaxRequests, 0, math.MaxInt)
	intRange(r, key+".max_requests_jitter", a.MaxRequestsJitter, 0, math.MaxInt)
	if a.MaxMemory < 0 {
		r.problem(key+".max_memory", "must not be negative")
	}
	if a.BufferSize < 4<<10 {
		r.problem(key+".buffer_size", fmt.Sprintf(`must be at least 4KiB, got %d bytes`, a.BufferSize))
	}
	if a.MaxBodySize < 0 {
		r.problem(key+".max_body_size", "must not be negative")
	}
	if a.TempDir != "" {
		if fi, err := os.Stat(a.TempDir); err != nil || !fi.IsDir() {
			r.problem(key+".temp_dir", fmt.Sprintf("%q is not a directory", a.TempDir))
		}
	}
	if a.Workdir != "" {
		if fi, err := os.Stat(a.Workdir); err != nil || !fi.IsDir() {
			r.problem(key+".workdir", fmt.Sprintf("%q is not a directory", a.Workdir))
		}
	}
}

// lookPython finds the interpreter: a name in PATH or a path, made
// absolute, so that every worker runs the same one.
func lookPython(p string) (string, error) {
	if strings.Contains(p, "/") {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("the interpreter %q does not exist", p)
		case err != nil:
			return "", fmt.Errorf("cannot use the interpreter %q: %v", p, unwrapPathError(err))
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return "", fmt.Errorf("the interpreter %q is not an executable file", p)
		}
		return p, nil
	}
	path, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf(`the interpreter %q is not in PATH: install Python 3.9 or newer, or set python (or virtualenv) to where it is`, p)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}

// sizeKey accepts a size in bytes as an integer, or a string with a unit:
// "512KiB", "64MiB", "1GiB" (powers of 1024), "64MB" (powers of 1000), or
// nginx's "512k", "64m", "1g" (powers of 1024).
func sizeKey(dst *int64) setter {
	return func(d *decoder, path string, v any) {
		const want = `must be a size in bytes, or a string like "512KiB", "64MiB" or "1GiB"`
		switch s := v.(type) {
		case int64:
			*dst = s
		case string:
			n, ok := parseSize(s)
			if !ok {
				d.valueProblem(path, fmt.Sprintf("%s, got %q", want, s))
				return
			}
			*dst = n
		default:
			d.valueProblem(path, want+", got "+describe(v))
		}
	}
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
}

func parseSize(s string) (int64, bool) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if err != nil || !ok || n > math.MaxInt64/unit {
		return 0, false
	}
	return n * unit, true
}
