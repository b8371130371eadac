// Command hello is arbiter in library mode: a Go http.Handler served by
// pre-forked workers. Run it with `go run ./examples/hello run examples/hello/app.toml`.
//
// The hooks write to stderr, which the master logs with the worker's pid.
//
// The X-Hello-Version response header is the build's version (set with
// -ldflags "-X main.version=2"; the upgrade tests use it to tell binaries
// apart), or HELLO_VERSION when that is set. HELLO_FAIL_LOAD=1 makes every
// worker fail to load the app, to show the master's back-off and halt (exit
// code 4).
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/arbiter-dev/arbiter/arbiter"
)

var version = "1"

func main() {
	arbiter.MainApp(arbiter.App{
		PostFork: func(w arbiter.Worker) error {
			log.Printf("hello: worker %d starting (post_fork)", w.ID)
			return nil
		},
		Load: load,
		PostWorkerInit: func(w arbiter.Worker) error {
			log.Printf("hello: worker %d ready to serve (post_worker_init)", w.ID)
			return nil
		},
		WorkerExit: func(w arbiter.Worker) {
			log.Printf("hello: worker %d exiting (worker_exit)", w.ID)
		},
	})
}

// load runs in each worker at boot.
func load() (http.Handler, error) {
	if os.Getenv("HELLO_FAIL_LOAD") == "1" {
		return nil, errors.New("HELLO_FAIL_LOAD=1: refusing to load")
	}
	version := version
	if v := os.Getenv("HELLO_VERSION"); v != "" {
		version = v
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk, _ := arbiter.Self()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Hello-Version", version)
		fmt.Fprintf(w, "Hello from worker %d (pid %d, generation %d) over %s: %s\n",
			wk.ID, wk.PID, wk.Generation, arbiter.Protocol(r), r.URL.Path)
	}), nil
}
