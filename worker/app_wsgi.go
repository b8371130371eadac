package worker

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker/app/wsgi"
)

// appProcesses is an app with processes of its own (WSGI), which the
// heartbeat lists.
type appProcesses interface {
	AppProcesses() []ipc.AppProcess
}

// buildWSGI starts a WSGI app's processes (docs/wsgi.md). An app that does
// not import is logged with its traceback and is an app load failure.
func buildWSGI(cfg *config.Config, a config.App, mount string, log zerolog.Logger) (http.Handler, error) {
	h, err := wsgi.New(wsgi.Config{
		Module:            a.Module,
		Python:            a.Python,
		PythonPath:        a.PythonPath,
		Env:               wsgiEnv(os.Environ(), a),
		Dir:               wsgiDir(cfg, a),
		Processes:         a.Processes,
		Threads:           a.Threads,
		Preload:           a.Preload,
		SchedBatch:        a.SchedBatch,
		Multiprocess:      a.Processes > 1 || cfg.Workers > 1,
		RequestTimeout:    a.RequestTimeout,
		SlowRequestLog:    cfg.SlowRequestLog,
		BootTimeout:       cfg.Timeout,
		MaxRequests:       a.MaxRequests,
		MaxRequestsJitter: a.MaxRequestsJitter,
		MaxMemory:         a.MaxMemory,
		BufferSize:        a.BufferSize,
		MaxBodySize:       a.MaxBodySize,
		TempDir:           a.TempDir,
		ScriptName:        mount,
		Log:               log,
	})
	if err != nil {
		var le *wsgi.AppLoadError
		if errors.As(err, &le) {
			log.Error().Str("module", a.Module).Str("python", a.Python).Str("traceback", le.Traceback).
				Msg("the WSGI app did not load: " + le.Exception)
		}
		return nil, fmt.Errorf("wsgi app: %w", err)
	}
	return h, nil
}

// wsgiDir is the app processes' working directory: workdir, else the
// worker's (chdir) when chdir is set, else the config file's directory, as
// when gunicorn is started from the project.
func wsgiDir(cfg *config.Config, a config.App) string {
	switch {
	case a.Workdir != "":
		return a.Workdir
	case cfg.Chdir != "" || cfg.Path == "":
		return ""
	}
	return filepath.Dir(cfg.Path)
}

// wsgiEnv is the app processes' environment: the worker's, less what is
// only for Go, with PYTHONUNBUFFERED=1 (so that print reaches the log at
// once) unless set, a virtualenv's VIRTUAL_ENV and bin first in PATH, and
// [app.env] last.
func wsgiEnv(environ []string, a config.App) []string {
	m := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := m[k]; !ok {
			order = append(order, k)
		}
		m[k] = v
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if k == "GOMAXPROCS" || k == "GOTRACEBACK" || strings.HasPrefix(k, "ARBITER_") {
			continue
		}
		set(k, v)
	}
	if _, ok := m["PYTHONUNBUFFERED"]; !ok {
		set("PYTHONUNBUFFERED", "1")
	}
	if a.Virtualenv != "" {
		set("VIRTUAL_ENV", a.Virtualenv)
		path := filepath.Join(a.Virtualenv, "bin")
		if p := m["PATH"]; p != "" {
			path += ":" + p
		}
		set("PATH", path)
		delete(m, "PYTHONHOME")
	}
	for k, v := range a.Env {
		set(k, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		if v, ok := m[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// CheckApps imports every WSGI app of cfg once, as its app processes would
// ([app] and each [[mount]]), for arbiter check. It returns a note per app
// ("python 3.11.2 imports myproject.wsgi:application"), and config.Errors
// that place each failure at the app's module (or python) key.
func CheckApps(cfg *config.Config) ([]string, error) {
	apps := []config.App{cfg.App}
	keys := []string{"app"}
	for i, m := range cfg.Mounts {
		apps = append(apps, m.App)
		keys = append(keys, fmt.Sprintf("mount[%d]", i))
	}
	var notes []string
	var problems config.Errors
	for i, a := range apps {
		if a.Type != config.AppWSGI {
			continue
		}
		res, err := wsgi.Check(wsgi.Config{Module: a.Module, Python: a.Python, PythonPath: a.PythonPath,
			Env: wsgiEnv(os.Environ(), a), Dir: wsgiDir(cfg, a), Threads: a.Threads})
		var le *wsgi.AppLoadError
		switch {
		case errors.As(err, &le):
			msg := fmt.Sprintf("cannot import %q: %s", a.Module, le.Exception)
			if le.Traceback != "" {
				msg += "\n" + le.Traceback
			}
			problems = append(problems, cfg.ProblemAt(keys[i]+".module", msg))
		case err != nil:
			problems = append(problems, cfg.ProblemAt(keys[i]+".python", err.Error()))
		default:
			notes = append(notes, fmt.Sprintf("python %s imports %s", res.Python, a.Module))
		}
	}
	if len(problems) > 0 {
		return notes, problems
	}
	return notes, nil
}
