package worker

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/arbiter-dev/arbiter/worker/info"
)

// App is what a program that imports arbiter compiles into its workers.
// Handler or Load serve requests when the config says [app] type = "go"
// (or a [[mount]] does). The hooks run in every worker, whatever the app
// type, with gunicorn's names and moments:
//
//	PostFork        first thing in a new worker, before the app is built
//	(Load)          builds the handler
//	PostWorkerInit  the app is built and the listeners are open; the worker
//	                reports ready to the master right after it returns
//	WorkerExit      the worker has stopped serving (drained or closed) and
//	                is about to exit
//
// A hook that returns an error or panics fails the worker's boot:
// PostFork with exit code 3, Load and PostWorkerInit with exit code 4; the
// master retries with a back-off and halts after max_boot_failures in a
// row. WorkerExit cannot fail the worker; a panic there is logged. No hook
// may take longer than timeout, or the master kills the worker as stuck.
type App struct {
	// Handler is built before the program starts, in master and workers alike.
	Handler http.Handler
	// Load, if set, builds the handler in each worker at boot (open
	// connection pools, read templates).
	Load func() (http.Handler, error)

	PostFork       func(info.Worker) error
	PostWorkerInit func(info.Worker) error
	WorkerExit     func(info.Worker)
}

// HasHandler reports whether the app can serve [app] type = "go".
func (a App) HasHandler() bool { return a.Handler != nil || a.Load != nil }

func (a App) postFork(w info.Worker) error {
	if a.PostFork == nil {
		return nil
	}
	return callHook("post_fork", func() error { return a.PostFork(w) })
}

func (a App) postWorkerInit(w info.Worker) error {
	if a.PostWorkerInit == nil {
		return nil
	}
	return callHook("post_worker_init", func() error { return a.PostWorkerInit(w) })
}

func (a App) workerExit(w info.Worker, log zerolog.Logger) {
	if a.WorkerExit == nil {
		return
	}
	if err := callHook("worker_exit", func() error { a.WorkerExit(w); return nil }); err != nil {
		log.Error().Err(err).Msg("worker_exit hook failed")
	}
}

// callHook runs a user hook, turning a panic into an error.
func callHook(name string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s hook panicked: %v", name, p)
		}
	}()
	if err := f(); err != nil {
		return fmt.Errorf("%s hook: %w", name, err)
	}
	return nil
}
