package worker

import (
	"fmt"
	"net/http"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
	"github.com/arbiter-dev/arbiter/worker/app/static"
)

// buildApp returns the application handler the config names.
func buildApp(cfg *config.Config, app App) (http.Handler, error) {
	switch cfg.App.Type {
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
