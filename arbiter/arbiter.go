// Package arbiter is the library entry point: a Go program that imports it
// and calls Main with its http.Handler becomes a pre-fork server with
// arbiter's whole command line (`myapp run app.toml`, `myapp check`,
// `myapp signal`). The master re-executes the program's own binary as
// workers, and the handler runs in each of them, behind HTTP/1.1 or the
// other protocols the config's [[listen]] entries name.
//
// The handler serves when the config's [app] type is "go", which is the
// default in a program that passes one. The master's logic lives in
// arbiter/master, the config in arbiter/config.
package arbiter

import (
	"net/http"

	"github.com/arbiter-dev/arbiter/cmd"
	"github.com/arbiter-dev/arbiter/worker"
	"github.com/arbiter-dev/arbiter/worker/info"
)

// Main runs arbiter's command line with h as the application and exits the
// process with arbiter's exit code (docs/signals.md). It does not return.
//
// In the master, h is never called; in each worker it serves every request
// on every listener. A nil h gives a binary like the stock arbiter (echo and
// static apps only).
func Main(h http.Handler) {
	cmd.Main(worker.App{Handler: h})
}

// App is an application with more than a handler: Load builds the handler
// in each worker at boot, and the hooks PostFork, PostWorkerInit and
// WorkerExit run in every worker at gunicorn's moments (see worker.App for
// when each runs and what an error in it means). arbitertest runs an App in
// a test's own process.
type App = worker.App

// MainApp is Main for an App. It does not return.
func MainApp(app App) { cmd.Main(app) }

// Worker identifies the running worker process.
type Worker = info.Worker

// Self returns the identity of the worker the caller runs in (its id,
// unique for the master's lifetime, its config generation and its pid), and
// false when called outside a worker, for example in the master.
func Self() (Worker, bool) { return info.Self() }

// Protocol returns the protocol the request came in on: "http", "fastcgi",
// "scgi" or "uwsgi".
func Protocol(r *http.Request) string { return info.Protocol(r.Context()) }

// Scheme returns the scheme the client used: "https" or "http" as a trusted
// proxy reported it (forwarded_allow_ips, docs/proxies.md), else "https"
// when the request came over TLS or a FastCGI, SCGI or uwsgi front end said
// HTTPS=on, else "http". A trusted proxy's scheme is also in r.URL.Scheme.
func Scheme(r *http.Request) string { return info.Scheme(r) }
