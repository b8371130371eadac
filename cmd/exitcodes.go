package cmd

import (
	"errors"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/control"
	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/arbiter/pidfile"
	"github.com/arbiter-dev/arbiter/worker"
)

// Exit codes, documented in docs/signals.md. This is the only place errors
// become exit codes.
const (
	ExitOK         = 0
	ExitError      = 1 // anything not listed below
	ExitUsage      = 2 // bad command line
	ExitWorkerBoot = master.ExitWorkerBoot
	ExitAppLoad    = master.ExitAppLoad
	ExitConfig     = 5 // the config is invalid
	ExitListen     = 6 // a listener could not be bound
	ExitRunning    = 7 // the pidfile names a live master
	ExitFailed     = 8 // a control command was refused or failed (status, reload, scale, upgrade, stop)
	ExitNoMaster   = 9 // no master answers on the control socket
)

// usageError marks a command-line mistake.
type usageError struct{ error }

// ExitCode maps an error from any command to the process's exit code.
func ExitCode(err error) int {
	var cfgErr config.Errors
	var usage usageError
	var failed commandFailed
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &cfgErr), errors.Is(err, config.ErrRead):
		return ExitConfig
	case errors.Is(err, master.ErrListen):
		return ExitListen
	case errors.Is(err, pidfile.ErrRunning):
		return ExitRunning
	case errors.As(err, &failed):
		return ExitFailed
	case errors.Is(err, control.ErrUnreachable):
		return ExitNoMaster
	case errors.Is(err, master.ErrAppLoad), errors.Is(err, worker.ErrAppLoad):
		return ExitAppLoad
	case errors.Is(err, master.ErrWorkerBoot), errors.Is(err, worker.ErrBoot):
		return ExitWorkerBoot
	}
	return ExitError
}
