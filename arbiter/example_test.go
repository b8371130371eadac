package arbiter_test

import (
	"fmt"
	"net/http"

	"github.com/arbiter-dev/arbiter/arbiter"
)

// A program that imports arbiter gets its command line and runs its handler
// in pre-forked workers: `hello run app.toml`.
func ExampleMain() {
	arbiter.Main(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk, _ := arbiter.Self()
		fmt.Fprintf(w, "hello from worker %d (generation %d) over %s\n", wk.ID, wk.Generation, arbiter.Protocol(r))
	}))
}

// Self reports false outside a worker.
func ExampleSelf() {
	_, inWorker := arbiter.Self()
	fmt.Println(inWorker)
	// Output: false
}
