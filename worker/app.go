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

// buildApp returns the application handler the config names. log is the
// worker's logger, for apps that log (cgi: script stderr and exit statuses).
// A handler that is also an io.Closer is closed when the worker stops.
func buildApp(cfg *config.Config, app App, log zerolog.Logger) (http.Handler, error) {
	switch cfg.App.Type {
	case config.AppCGI:
		a := cfg.App
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
			MaxScripts:        a.MaxScripts,
			MaxScriptsWait:    a.MaxScriptsWait,
			Log:               log.With().Str("app", "cgi").Logger(),
		})
		if err != nil {
			return nil, fmt.Errorf("cgi app: %w", err)
		}
		return h, nil
	case config.AppEcho:
		return echo.New(), nil
	case config.AppStatic:
		h, err := static.New(cfg.App.Root, cfg.App.Index)
		if err != nil {
			return nil, fmt.Errorf("static app: %w", err)
		}
		return h, nil
	case config.AppGo:
		switch {
		case app.Load != nil:
			h, err := app.Load()
			if err != nil {
				return nil, fmt.Errorf("load go app: %w", err)
			}
			if h == nil {
				return nil, fmt.Errorf("load go app: Load returned a nil handler")
			}
			return h, nil
		case app.Handler != nil:
			return app.Handler, nil
		}
		return nil, fmt.Errorf(`[app] type = "go" needs a program that imports arbiter and passes its http.Handler; this binary has none`)
	}
	return nil, fmt.Errorf("unknown app type %q", cfg.App.Type)
}
