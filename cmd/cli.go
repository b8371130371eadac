// Package cmd is arbiter's command line: run, check, signal, the control
// commands (status, reload, scale, upgrade, stop), and the hidden
// worker command the master re-executes itself with. A program that imports
// arbiter as a library gets the same command line through arbiter.Main.
package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/arbiter-dev/arbiter/worker"
)

// Version is set at build time (-ldflags "-X .../cmd.Version=...").
var Version = "dev"

// Main runs the command line with os.Args and exits with the mapped code.
func Main(app worker.App) {
	os.Exit(Run(os.Args, app, os.Stdout, os.Stderr))
}

// Run runs the command line and returns the exit code.
func Run(args []string, app worker.App, stdout, stderr io.Writer) int {
	c := newApp(app, stdout, stderr)
	err := c.Run(negativeScale(args))
	if err != nil {
		var exit cli.ExitCoder
		if errors.As(err, &exit) && exit.ExitCode() == 0 {
			return ExitOK
		}
		var logged loggedError
		if msg := err.Error(); msg != "" && !errors.As(err, &logged) {
			fmt.Fprintf(stderr, "%s: %s\n", c.Name, strings.TrimRight(msg, "\n"))
		}
	}
	return ExitCode(err)
}

func newApp(app worker.App, stdout, stderr io.Writer) *cli.App {
	name := "arbiter"
	if len(os.Args) > 0 {
		name = baseName(os.Args[0])
	}
	return &cli.App{
		Name:    name,
		Usage:   "a pre-fork process manager for HTTP, FastCGI, SCGI and uwsgi applications",
		Version: Version,
		Writer:  stdout, ErrWriter: stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // exit codes are mapped in Run
		OnUsageError:    onUsageError,
		Commands: withUsageErrors(append([]*cli.Command{runCommand(app), checkCommand(app), signalCommand()},
			append(controlCommands(), workerCommand(app))...)...),
	}
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

// withUsageErrors makes a bad flag on any command exit with ExitUsage.
func withUsageErrors(cmds ...*cli.Command) []*cli.Command {
	for _, c := range cmds {
		c.OnUsageError = onUsageError
	}
	return cmds
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
