package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/control"
	"github.com/arbiter-dev/arbiter/arbiter/master"
)

// commandFailed is a control command the master refused or that failed;
// its message is the master's reason.
type commandFailed struct{ error }

var controlFlags = []cli.Flag{
	&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "the master's control socket `PATH`"},
	&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "find the control socket from `CONFIG.toml` (its control_socket, or the default next to its pidfile)"},
	&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "wait at most `DURATION` for the outcome"},
}

const controlDescription = "The master is found by --socket, or by --config (the control_socket the file sets, or the\n" +
	"default path derived from its pidfile or its own path; docs/operations.md), or, with neither,\n" +
	"at the default path of a master run without a config file."

// controlCommands are status, reload, scale, upgrade and stop.
func controlCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "status", Usage: "show the master, its listeners and its workers",
			Description: controlDescription,
			Flags:       append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the master's status document (JSON) instead of tables"}}, controlFlags...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return usageError{fmt.Errorf("status takes no arguments")}
				}
				r, err := call(c, control.Request{Command: control.CmdStatus})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					var b bytes.Buffer
					if err := json.Indent(&b, r.Status, "", "  "); err != nil {
						return fmt.Errorf("status: bad reply: %w", err)
					}
					fmt.Fprintf(c.App.Writer, "%s\n", b.Bytes())
					return nil
				}
				var s master.Snapshot
				if err := json.Unmarshal(r.Status, &s); err != nil {
					return fmt.Errorf("status: bad reply: %w", err)
				}
				printStatus(c.App.Writer, &s)
				return nil
			},
		},
		simpleCommand("reload", "re-read the config and wait until the new generation is ready",
			"Exits non-zero with the reason when the config is refused or the new generation does not boot.",
			nil, func(c *cli.Context) (control.Request, error) {
				return control.Request{Command: control.CmdReload}, noArgs(c)
			}),
		simpleCommand("scale", "set the number of workers and wait until they are ready",
			"N sets the count, +N and -N change it. Within workers_min..workers_max for a dynamic fleet,\n"+
				"else 1..1024; beyond the bounds the master refuses and nothing changes.",
			nil, func(c *cli.Context) (control.Request, error) {
				if c.NArg() != 1 {
					return control.Request{}, usageError{fmt.Errorf("scale takes one argument: N, +N or -N")}
				}
				return control.Request{Command: control.CmdScale, Workers: c.Args().First()}, nil
			}),
		simpleCommand("upgrade", "start a new master from the binary (USR2) and wait until it is in charge",
			"Exits non-zero when the new master exits or is not ready within upgrade_timeout; the old one then keeps serving.",
			nil, func(c *cli.Context) (control.Request, error) {
				return control.Request{Command: control.CmdUpgrade}, noArgs(c)
			}),
		simpleCommand("stop", "stop the master and wait until it has exited",
			"Graceful (TERM) unless --fast (QUIT).",
			[]cli.Flag{&cli.BoolFlag{Name: "fast", Usage: "close every connection now instead of draining"}},
			func(c *cli.Context) (control.Request, error) {
				return control.Request{Command: control.CmdStop, Fast: c.Bool("fast")}, noArgs(c)
			}),
	}
}

// negativeScale lets `arbiter scale -2` mean two workers less: the flag
// parser would take "-2" for a flag, so the number moves behind a "--" at
// the end of the command line.
func negativeScale(args []string) []string {
	for i, a := range args {
		if a == "--" {
			return args
		}
		if a != "scale" {
			continue
		}
		for j := i + 1; j < len(args) && args[j] != "--"; j++ {
			if n := args[j]; len(n) > 1 && n[0] == '-' && strings.Trim(n[1:], "0123456789") == "" {
				out := append(append([]string(nil), args[:j]...), args[j+1:]...)
				return append(out, "--", n)
			}
		}
		return args
	}
	return args
}

func noArgs(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError{fmt.Errorf("%s takes no arguments", c.Command.Name)}
	}
	return nil
}

// simpleCommand sends the request req builds and prints the master's message.
func simpleCommand(name, usage, desc string, flags []cli.Flag, req func(*cli.Context) (control.Request, error)) *cli.Command {
	args := ""
	if name == "scale" {
		args = "N|+N|-N"
	}
	return &cli.Command{
		Name: name, Usage: usage, ArgsUsage: args,
		Description: desc + "\n" + controlDescription,
		Flags:       append(flags, controlFlags...),
		Action: func(c *cli.Context) error {
			rq, err := req(c)
			if err != nil {
				return err
			}
			r, err := call(c, rq)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s\n", r.Message)
			return nil
		},
	}
}

// call finds the control socket and sends req; a reply with ok false is a
// commandFailed.
func call(c *cli.Context, req control.Request) (control.Reply, error) {
	path, err := socketPath(c)
	if err != nil {
		return control.Reply{}, err
	}
	r, err := control.Call(path, req, c.Duration("timeout"))
	if err != nil {
		return r, err
	}
	if !r.OK {
		return r, commandFailed{errors.New(r.Error)}
	}
	return r, nil
}

func socketPath(c *cli.Context) (string, error) {
	if p := c.String("socket"); p != "" {
		return p, nil
	}
	if p := c.String("config"); p != "" {
		path, err := config.FindControlSocket(p, os.Getenv, os.Getuid())
		if err != nil {
			return "", err
		}
		if path == "" {
			return "", usageError{fmt.Errorf("%s turns the control socket off (control_socket = \"\")", p)}
		}
		return path, nil
	}
	return config.ControlSocketPath("", "", os.Getenv, os.Getuid()), nil
}

// printStatus writes the status tables a person reads.
func printStatus(w io.Writer, s *master.Snapshot) {
	fleet := fmt.Sprintf("%d %s", s.Desired, map[bool]string{true: "worker", false: "workers"}[s.Desired == 1])
	if s.WorkersMax > 0 {
		fleet += fmt.Sprintf(" (dynamic, %d..%d)", s.WorkersMin, s.WorkersMax)
	}
	fmt.Fprintf(w, "master %d, %s, up %s, generation %d, %s\n", s.PID, s.State, roundDur(s.UptimeSeconds), s.Generation, fleet)
	if s.Upgrading != 0 {
		fmt.Fprintf(w, "upgrading: new master %d is starting\n", s.Upgrading)
	}
	if r := s.LastReload; r != nil {
		line := fmt.Sprintf("last reload: %s, %s ago", r.Outcome, roundDur(s.At.Sub(r.At).Seconds()))
		if r.Generation > 0 {
			line += fmt.Sprintf(", generation %d", r.Generation)
		}
		if r.Error != "" {
			line += ": " + r.Error
		}
		fmt.Fprintln(w, line)
	} else {
		fmt.Fprintln(w, "last reload: none")
	}
	fmt.Fprintf(w, "requests: %d served, %d in flight\n\n", s.RequestsTotal, s.InFlight)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tPROTOCOL\tACCEPT QUEUE\tBACKLOG")
	for _, l := range s.Listeners {
		addr := l.Address
		if l.Name != "" {
			addr += " (" + l.Name + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", addr, l.Protocol, optInt(l.AcceptQueue), optInt(l.Backlog))
	}
	tw.Flush()
	fmt.Fprintln(w)

	ws := append([]master.WorkerStatus(nil), s.Workers...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tPID\tGEN\tSTATE\tIN-FLIGHT\tREQUESTS\tRSS\tAGE\tHEARTBEAT")
	for _, wk := range ws {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%d\t%s\t%s\t%s ago\n", wk.ID, wk.PID, wk.Generation, wk.State,
			wk.InFlight, wk.Requests, mib(wk.RSS), roundDur(wk.AgeSeconds), roundDur(wk.LastHeartbeatSeconds))
	}
	tw.Flush()
	if len(ws) == 0 {
		fmt.Fprintln(w, "(no workers)")
	}
}

func optInt(p *int) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprint(*p)
}

func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
}

// roundDur prints seconds as a duration to a tenth of a second under a
// minute, to the second above.
func roundDur(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return strings.TrimSuffix(d.Round(time.Second).String(), "0s")
}
