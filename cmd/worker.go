package cmd

import (
	"os"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/worker"
)

const workerCommandName = "worker"

// workerCommand is the entry point the master re-executes itself with. It
// reads its boot document from the environment and removes it at once, so
// nothing the worker starts inherits it. It logs JSON to stderr, a pipe the
// master reads.
func workerCommand(app worker.App) *cli.Command {
	return &cli.Command{
		Name:   workerCommandName,
		Hidden: true,
		Usage:  "internal: run as a worker (started by the master)",
		Action: func(c *cli.Context) error {
			doc := os.Getenv(ipc.EnvBoot)
			os.Unsetenv(ipc.EnvBoot)
			base := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Logger()
			boot, err := ipc.DecodeBoot(doc)
			if err != nil {
				base.Error().Err(err).Msg("worker cannot boot")
				return loggedError{wrapBoot(err)}
			}
			log := base.Level(logging.ParseLevel(boot.Config.Log.Level)).With().
				Int("worker", boot.ID).Int("generation", boot.Generation).Logger()
			if err := worker.Run(boot, app, log); err != nil {
				log.Error().Err(err).Msg("worker exiting")
				return loggedError{err}
			}
			return nil
		},
	}
}

func wrapBoot(err error) error { return &bootErr{err} }

type bootErr struct{ err error }

func (e *bootErr) Error() string { return e.err.Error() }
func (e *bootErr) Unwrap() []error {
	return []error{worker.ErrBoot, e.err}
}
