// Package handlers holds the applications bench-core measures, so that the
// arbiter side and the single-process net/http baseline run the same code.
//
// Echo is arbiter's built-in echo app. Hello is the handler of
// examples/hello (a package main, which cannot be imported), kept identical
// to it: the same headers and the same body.
package handlers

import (
	"fmt"
	"net/http"
	"os"

	"github.com/arbiter-dev/arbiter/arbiter"
	"github.com/arbiter-dev/arbiter/worker/app/echo"
)

// Names of the applications, as the benchmark's table shows them.
const (
	EchoName  = "echo"
	HelloName = "hello"
)

// Echo returns arbiter's built-in echo handler (worker/app/echo).
func Echo() http.Handler { return echo.New() }

// LoadHello builds the hello handler, as examples/hello does in each worker
// at boot: HELLO_VERSION (default "1") becomes the X-Hello-Version header.
// It never fails; the error is there to fit arbiter.App.Load.
func LoadHello() (http.Handler, error) {
	version := os.Getenv("HELLO_VERSION")
	if version == "" {
		version = "1"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wk, _ := arbiter.Self()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Hello-Version", version)
		fmt.Fprintf(w, "Hello from worker %d (pid %d, generation %d) over %s: %s\n",
			wk.ID, wk.PID, wk.Generation, arbiter.Protocol(r), r.URL.Path)
	}), nil
}

// ByName returns the handler of the application called name (EchoName or
// HelloName), or an error for any other name.
func ByName(name string) (http.Handler, error) {
	switch name {
	case EchoName:
		return Echo(), nil
	case HelloName:
		return LoadHello()
	}
	return nil, fmt.Errorf("unknown app %q: want %q or %q", name, EchoName, HelloName)
}
