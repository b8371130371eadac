// Command hello is the library-mode program bench-core runs under arbiter:
// arbiter's command line (`hello run app.toml`) with the hello handler of
// package handlers, the same code the net/http baseline serves.
package main

import (
	"github.com/arbiter-dev/arbiter/arbiter"
	"github.com/arbiter-dev/arbiter/internal/bench/core/handlers"
)

func main() {
	arbiter.MainApp(arbiter.App{Load: handlers.LoadHello})
}
