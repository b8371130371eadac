package cmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/logging"
	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/ipc"
	"github.com/arbiter-dev/arbiter/systemd"
	"github.com/arbiter-dev/arbiter/worker"
)

// loggedError is an error already written to the log; Run does not print it again.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

var overrideFlags = []cli.Flag{
	&cli.IntFlag{Name: "workers", Aliases: []string{"w"}, Usage: "number of worker processes (overrides `workers`)"},
	&cli.StringSliceFlag{Name: "bind", Aliases: []string{"b"}, Usage: "listen on `ADDRESS` over HTTP (repeatable; replaces every [[listen]])"},
	&cli.StringFlag{Name: "pidfile", Aliases: []string{"p"}, Usage: "write the master's pid to `FILE` (overrides `pidfile`)"},
}

func overrides(c *cli.Context) config.Overrides {
	return config.Overrides{Workers: c.Int("workers"), Binds: c.StringSlice("bind"), Pidfile: c.String("pidfile")}
}

// configPath returns the optional CONFIG argument.
func configPath(c *cli.Context) (string, error) {
	switch c.NArg() {
	case 0:
		return "", nil
	case 1:
		return c.Args().First(), nil
	}
	return "", usageError{fmt.Errorf("%s takes one config file, got %d arguments", c.Command.Name, c.NArg())}
}

// validator checks what config.Load cannot know: whether this binary has a
// Go handler for [app] type = "go".
func validator(app worker.App) func(*config.Config) error {
	return func(cfg *config.Config) error {
		if app.HasHandler() {
			return nil
		}
		const msg = `"go" needs a program that imports arbiter and passes its http.Handler to arbiter.Main; this binary has none`
		var probs config.Errors
		if cfg.App.Type == config.AppGo {
			probs = append(probs, config.Problem{File: cfg.Path, Key: "app.type", Msg: msg})
		}
		for i, m := range cfg.Mounts {
			if m.Type == config.AppGo {
				probs = append(probs, config.Problem{File: cfg.Path, Key: fmt.Sprintf("mount[%d].type", i), Msg: msg})
			}
		}
		if len(probs) > 0 {
			return probs
		}
		return nil
	}
}

func loadConfig(c *cli.Context, app worker.App) (*config.Config, error) {
	path, err := configPath(c)
	if err != nil {
		return nil, err
	}
	o := overrides(c)
	if app.HasHandler() {
		o.DefaultApp = config.AppGo
	}
	cfg, err := config.Load(path, o)
	if err != nil {
		return nil, err
	}
	if err := validator(app)(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func runCommand(app worker.App) *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "start the master and its workers in the foreground",
		ArgsUsage: "[CONFIG.toml]",
		Description: "Starts the master, which binds the listeners and runs the workers until TERM, INT or QUIT.\n" +
			"Signals: HUP reload, TTIN/TTOU one worker more/less, USR1 reopen logs, WINCH stop workers (docs/signals.md).\n" +
			"Without CONFIG, the defaults apply: the echo app on 127.0.0.1:8000 (0.0.0.0:$PORT when PORT is set).",
		Flags: overrideFlags,
		Action: func(c *cli.Context) error {
			// A master started by an old one on USR2 finds its hand-off
			// document here; it must not leak into anything started later.
			var takeover *ipc.Upgrade
			if doc, ok := os.LookupEnv(ipc.EnvUpgrade); ok {
				os.Unsetenv(ipc.EnvUpgrade)
				var err error
				if takeover, err = ipc.DecodeUpgrade(doc); err != nil {
					return err
				}
			}
			cfg, err := loadConfig(c, app)
			if err != nil {
				return err
			}
			// Sockets from systemd socket activation (none when taking
			// over: the old master hands its sockets over itself).
			var activated []systemd.Socket
			if takeover == nil {
				if activated, err = systemd.Sockets(); err != nil {
					return fmt.Errorf("%w: %w", master.ErrListen, err)
				}
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this program's path (needed for USR2): %w", err)
			}
			sink, err := logging.Open(cfg.Log, os.Stderr)
			if err != nil {
				return err
			}
			defer sink.Close()
			log := sink.Logger(cfg.Log.Level)
			o := overrides(c)
			if app.HasHandler() {
				o.DefaultApp = config.AppGo
			}
			m := master.New(master.Options{
				Config: cfg, Overrides: o, Validate: validator(app),
				Log: log, Sink: sink,
				Executable: "/proc/self/exe", Args: []string{os.Args[0], workerCommandName},
				Self: self, SelfArgs: os.Args, Takeover: takeover, Activated: activated,
			})
			if err := m.Run(); err != nil {
				log.Error().Err(err).Msg("exiting")
				return loggedError{err}
			}
			return nil
		},
	}
}

func checkCommand(app worker.App) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate a config file without starting anything",
		ArgsUsage: "[CONFIG.toml]",
		Description: "Exits 0 when the config is valid. Otherwise prints every problem as file:line:col: key: message\n" +
			"and exits 5. The flags are checked as they would be applied by run.",
		Flags: overrideFlags,
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c, app)
			if err != nil {
				return err
			}
			var ls []string
			for _, l := range cfg.Listen {
				ls = append(ls, l.Protocol+" on "+l.Address)
			}
			name := cfg.Path
			if name == "" {
				name = "(defaults)"
			}
			notes, err := worker.CheckApps(cfg)
			if err != nil {
				return err
			}
			apps := "app " + cfg.App.Type
			for _, m := range cfg.Mounts {
				apps += ", " + m.Type + " at " + m.Path
			}
			for _, n := range notes {
				apps += " (" + n + ")"
			}
			fmt.Fprintf(c.App.Writer, "%s: OK: %d workers, %s, %s\n", name, cfg.Workers, apps, strings.Join(ls, ", "))
			return nil
		},
	}
}
