package cmd

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/pidfile"
	"github.com/arbiter-dev/arbiter/signals"
)

func signalCommand() *cli.Command {
	return &cli.Command{
		Name:      "signal",
		Usage:     "send a signal to a running master",
		ArgsUsage: "SIGNAL",
		Description: "SIGNAL is a name (HUP, TERM, TTIN, ...) or a number. The master is found by --pid, by\n" +
			"--pidfile, or by the pidfile named in --config.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "pid", Usage: "the master's `PID`"},
			&cli.StringFlag{Name: "pidfile", Aliases: []string{"p"}, Usage: "read the master's pid from `FILE`"},
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "read the pidfile name from `CONFIG.toml`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{fmt.Errorf("signal takes one SIGNAL argument")}
			}
			sig, err := signals.Parse(c.Args().First())
			if err != nil {
				return usageError{err}
			}
			pid := c.Int("pid")
			if pid == 0 {
				path := c.String("pidfile")
				if path == "" && c.String("config") != "" {
					cfg, err := config.Load(c.String("config"), config.Overrides{})
					if err != nil {
						return err
					}
					path = cfg.Pidfile
				}
				if path == "" {
					return usageError{fmt.Errorf("say which master: --pid, --pidfile, or --config with a pidfile")}
				}
				if pid, err = pidfile.Read(path); err != nil {
					return err
				}
			}
			return signals.Send(pid, sig)
		},
	}
}
