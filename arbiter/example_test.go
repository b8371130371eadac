package arbiter_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/arbiter-dev/arbiter/arbiter"
	"github.com/arbiter-dev/arbiter/arbiter/arbitertest"
)

// A program that imports arbiter gets its command line and runs its handler
// in pre-forked workers: `hello run app.toml`.
func ExampleMain() {
	arbiter.Main(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk, _ := arbiter.Self()
		fmt.Fprintf(w, "hello from worker %d (generation %d) over %s\n", wk.ID, wk.Generation, arbiter.Protocol(r))
	}))
}

// get fetches url and returns the body.
func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The hooks run in every worker, in gunicorn's order. arbitertest runs the
// app in this process the way a worker does.
func ExampleApp_hooks() {
	app := arbiter.App{
		PostFork: func(w arbiter.Worker) error {
			fmt.Println("post_fork: worker", w.ID)
			return nil
		},
		Load: func() (http.Handler, error) {
			fmt.Println("load: open pools, read templates")
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintln(w, "served")
			}), nil
		},
		PostWorkerInit: func(w arbiter.Worker) error {
			fmt.Println("post_worker_init: generation", w.Generation)
			return nil
		},
		WorkerExit: func(w arbiter.Worker) {
			fmt.Println("worker_exit: worker", w.ID)
		},
	}
	s, err := arbitertest.Start(app, "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(get(s.URL))
	s.Close()
	// Output:
	// post_fork: worker 1
	// load: open pools, read templates
	// post_worker_init: generation 1
	// served
	// worker_exit: worker 1
}

// Self tells a handler which worker and generation it runs in (and reports
// false outside a worker, in the master), and Protocol how the request
// arrived.
func ExampleSelf() {
	s, _ := arbitertest.Start(arbiter.App{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk, ok := arbiter.Self()
		fmt.Fprintf(w, "worker %d, generation %d, %v, over %s\n", wk.ID, wk.Generation, ok, arbiter.Protocol(r))
	})}, "", nil)
	fmt.Print(get(s.URL))
	s.Close()
	// Output: worker 1, generation 1, true, over http
}

// An error from Load is an app load failure: in a real fleet the worker
// exits with code 4, and the master retries, then halts.
func ExampleApp_loadError() {
	_, err := arbitertest.Start(arbiter.App{Load: func() (http.Handler, error) {
		return nil, fmt.Errorf("connect to the database: refused")
	}}, "", nil)
	fmt.Println(err)
	// Output: app load failed: load go app: connect to the database: refused
}
