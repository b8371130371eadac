// Package chaos holds arbiter's reliability scenarios: real arbiter
// processes on loopback, real signals (kill -9 of workers and of the
// master, SIGSTOP), keep-alive load from internal/bench/loadgen or wrk,
// hostile and slow clients, a full disk. Each scenario returns a Result:
// the figures it measured, and the checks that say whether arbiter kept
// its guarantees (docs/reliability.md lists them).
//
// `make chaos` runs every scenario at Full scale (internal/chaos/cmd);
// the package's tests run each at Short scale, in seconds, as part of
// `make test`. A check marked Target is a performance target (the
// slowloris throughput ratio): `make chaos` reports it, the tests do not
// hold it against the code, since a test never asserts a speed.
package chaos

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Env is what every scenario needs.
type Env struct {
	Bin string    // the arbiter binary
	Dir string    // a scratch directory; each scenario makes its own below it
	Wrk string    // the wrk binary; "" when missing (the slowloris scenario needs it)
	Log io.Writer // progress lines
}

// Scenario is one kind of chaos.
type Scenario struct {
	Name  string // for -scenarios and the test names
	Title string
	Run   func(ctx context.Context, e *Env, s Scale) *Result
}

// Scenarios are every scenario, in the order they run.
var Scenarios = []Scenario{
	{"kill-worker", "kill -9 of a random worker every KillEvery, under keep-alive load", KillWorkers},
	{"kill-master", "kill -9 of the master with CGI scripts in flight", KillMaster},
	{"sigstop", "SIGSTOP of a worker under keep-alive load", StopWorker},
	{"hostile", "hostile input on every protocol", Hostile},
	{"soak", "respawn soak: the master's resources over many respawns", Soak},
	{"slowloris", "slowloris on every protocol against normal traffic", Slowloris},
	{"disk", "full disk, deleted log files, a vanished pidfile directory", Disk},
}

// Execute runs the scenario and times it.
func (sc Scenario) Execute(ctx context.Context, e *Env, s Scale) *Result {
	began := time.Now()
	r := sc.Run(ctx, e, s)
	r.Elapsed = time.Since(began)
	return r
}

// echoWithCGI is the app of the scenarios that run scripts: the echo app,
// and the CGI scripts in cgi/ under /cgi.
const echoWithCGI = `[app]
type = "echo"

[[mount]]
path = "/cgi"
type = "cgi"
root = "cgi"
`

// writeScript writes an executable script into dir/cgi, making the
// directory.
func writeScript(dir, name, text string) error {
	if err := os.MkdirAll(filepath.Join(dir, "cgi"), 0o755); err != nil {
		return fmt.Errorf("cgi directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgi", name), []byte(text), 0o755); err != nil {
		return fmt.Errorf("cgi script: %w", err)
	}
	return nil
}

// Result is what a scenario measured and whether its checks held.
type Result struct {
	Name, Title string
	Command     string // what reproduces it
	Figures     []Figure
	Checks      []Check
	Notes       []string
	Details     []string // one line per case, where a scenario has cases
	// Err is set when the harness itself failed (a server that did not
	// start); the checks are then incomplete.
	Err     error
	Elapsed time.Duration
}

// Figure is one measured number, with its unit in Value.
type Figure struct{ Name, Value string }

// Check is one guarantee (or, with Target, a performance target).
type Check struct {
	What   string
	OK     bool
	Got    string
	Target bool
}

func newResult(name, title string) *Result { return &Result{Name: name, Title: title} }

func (r *Result) figure(name, format string, args ...any) {
	r.Figures = append(r.Figures, Figure{name, fmt.Sprintf(format, args...)})
}

func (r *Result) check(what string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{What: what, OK: ok, Got: fmt.Sprintf(format, args...)})
}

func (r *Result) target(what string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{What: what, OK: ok, Got: fmt.Sprintf(format, args...), Target: true})
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// fail records a harness failure and returns r, for `return r.fail(err)`.
func (r *Result) fail(err error) *Result {
	if r.Err == nil {
		r.Err = err
	}
	return r
}

// Broken returns the checks that did not hold; targets only when targets
// is set.
func (r *Result) Broken(targets bool) []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK && (targets || !c.Target) {
			out = append(out, c)
		}
	}
	return out
}

// Pass reports whether the harness worked and every check held; targets
// count only when targets is set.
func (r *Result) Pass(targets bool) bool {
	return r.Err == nil && len(r.Checks) > 0 && len(r.Broken(targets)) == 0
}

// Print writes r as a report.
func (r *Result) Print(w io.Writer) {
	verdict := "PASS"
	switch {
	case r.Err != nil:
		verdict = "ERROR"
	case !r.Pass(true):
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "== %s: %s — %s (%v)\n", r.Name, r.Title, verdict, r.Elapsed.Round(100*time.Millisecond))
	if r.Err != nil {
		fmt.Fprintf(w, "   harness error: %v\n", r.Err)
	}
	for _, f := range r.Figures {
		fmt.Fprintf(w, "   %-44s %s\n", f.Name, f.Value)
	}
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		kind := ""
		if c.Target {
			kind = " (target)"
		}
		fmt.Fprintf(w, "   [%s] %s%s: %s\n", mark, c.What, kind, c.Got)
	}
	for _, d := range r.Details {
		fmt.Fprintf(w, "     %s\n", d)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "   note: %s\n", n)
	}
}

// scratch makes the scenario's directory under e.Dir.
func (e *Env) scratch(name string) (string, error) {
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("scratch directory: %w", err)
	}
	return dir, nil
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, "chaos: "+format+"\n", args...)
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func pct(part, whole int64) string {
	if whole == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f %%", 100*float64(part)/float64(whole))
}
