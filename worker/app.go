package worker

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/worker/app/cgi"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
	"github.com/arbiter-dev/arbiter/worker/app/static"
)

// buildApp returns the application handler the config names: [app], and
// a router in front of it when there are [[mount]]s. log is the worker's
// logger, for apps that log (cgi: script stderr and exit statuses). A
// handler that is also an io.Closer is closed when the worker stops. stuck
// asks for the worker's replacement when a handler cannot be stopped
// (guard.go).
func buildApp(cfg *config.Config, app App, log zerolog.Logger, stuck func(reason string)) (http.Handler, error) {
	gl := &goApp{app: app, stuck: stuck}
	root, err := buildOne(cfg, cfg.App, "", gl, log)
	if err != nil || len(cfg.Mounts) == 0 {
		return root, err
	}
	rt := &router{fallback: root}
	for _, m := range cfg.Mounts {
		a := m.App
		if a.Type == config.AppCGI && (a.Prefix == "" || a.Prefix == "/") {
			a.Prefix = m.Path // SCRIPT_NAME starts with the mount's path
		}
		h, err := buildOne(cfg, a, m.Path, gl, log.With().Str("mount", m.Path).Logger())
		if err != nil {
			rt.Close()
			return nil, fmt.Errorf("mount %s: %w", m.Path, err)
		}
		if a.Type == config.AppStatic {
			h = http.StripPrefix(m.Path, h)
		}
		rt.add(m.Path, h)
	}
	return rt, nil
}

// buildOne builds one app, mounted at mount ("" for [app]).
func buildOne(cfg *config.Config, a config.App, mount string, gl *goApp, log zerolog.Logger) (http.Handler, error) {
	switch a.Type {
	case config.AppWSGI:
		return buildWSGI(cfg, a, mount, log.With().Str("app", "wsgi").Logger())
	case config.AppCGI:
		h, err := cgi.New(cgi.Config{
			Script:            a.Script,
			Root:              a.Root,
			Prefix:            a.Prefix,
			Interpreters:      a.Interpreters,
			Extensions:        a.Extensions,
			Dir:               a.Workdir,
			PassEnv:           a.PassEnv,
			PassAuthorization: a.PassAuthorization,
			Timeout:           a.ScriptTimeout,
			SlowLog:           cfg.SlowRequestLog,
			MaxScripts:        a.MaxScripts,
			MaxScriptsWait:    a.MaxScriptsWait,
			Log:               log.With().Str("app", "cgi").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("cgi app: %w", err)
		}
		return h, nil
	case config.AppEcho:
		return gl.guard(cfg, a, echo.New(), log), nil
	case config.AppStatic:
		h, err := static.New(a.Root, a.Index)
		if err != nil {
			return nil, fmt.Errorf("static app: %w", err)
		}
		return gl.guard(cfg, a, h, log), nil
	case config.AppGo:
		h, err := gl.handler()
		if err != nil {
			return nil, err
		}
		return gl.guard(cfg, a, h, log), nil
	}
	return nil, fmt.Errorf("unknown app type %q", a.Type)
}

// goApp builds the program's Go handler once, however many mounts use it.
type goApp struct {
	app   App
	h     http.Handler
	err   error
	done  bool
	stuck func(reason string)
}

// guard puts a's request_timeout and the slow_request_log in front of h,
// an app that runs in the worker's goroutines.
func (g *goApp) guard(cfg *config.Config, a config.App, h http.Handler, log zerolog.Logger) http.Handler {
	return newGuard(h, a.RequestTimeout, cfg.SlowRequestLog, log.With().Str("app", a.Type).Logger(), g.stuck)
}

func (g *goApp) handler() (http.Handler, error) {
	if g.done {
		return g.h, g.err
	}
	g.done = true
	switch {
	case g.app.Load != nil:
		h, err := g.app.Load()
		switch {
		case err != nil:
			g.err = fmt.Errorf("load go app: %w", err)
		case h == nil:
			g.err = fmt.Errorf("load go app: Load returned a nil handler")
		default:
			g.h = h
		}
	case g.app.Handler != nil:
		g.h = g.app.Handler
	default:
		g.err = fmt.Errorf(`type "go" needs a program that imports arbiter and passes its http.Handler; this binary has none`)
	}
	return g.h, g.err
}
