package wsgi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// checkTimeout bounds `arbiter check`'s import of the app.
const checkTimeout = 60 * time.Second

// CheckResult is what Check found.
type CheckResult struct {
	Python     string // the interpreter's version, "3.11.2"
	Executable string // sys.executable
	App        string // the callable's repr
}

// Check imports the app once, in a process of its own, the way an app
// process would (same interpreter, environment, working directory and
// sys.path), and reports what it found: arbiter check's test that the
// module and its callable exist. An app that does not import is an
// *AppLoadError; an interpreter that cannot run the runner (missing, older
// than 3.9) is another error that says so.
func Check(c Config) (CheckResult, error) {
	runner, err := runnerMemfd()
	if err != nil {
		return CheckResult{}, err
	}
	f := os.NewFile(uintptr(runner), "arbiter_wsgi.py")
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	rc, _ := json.Marshal(runnerConfig{Mode: "check", Module: c.Module, PythonPath: c.PythonPath, Threads: c.Threads})
	cmd := exec.CommandContext(ctx, c.Python, runnerPath, "arbiter-wsgi", "check", c.Module)
	cmd.Env = append(append([]string(nil), c.Env...), "ARBITER_WSGI="+string(rc))
	cmd.Dir = c.Dir
	cmd.ExtraFiles = []*os.File{f}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	// The result is the last line: the app may print while it is imported.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := []byte(lines[len(lines)-1])
	var res struct {
		Python, Executable, App string
		Error, Traceback        string
	}
	if jerr := json.Unmarshal(last, &res); jerr != nil {
		var ee *exec.Error
		switch {
		case errors.As(err, &ee):
			return CheckResult{}, fmt.Errorf("cannot run %s: %w", c.Python, ee.Err)
		case ctx.Err() != nil:
			return CheckResult{}, fmt.Errorf("importing the app took more than %s", checkTimeout)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return CheckResult{}, fmt.Errorf("%s did not run the WSGI runner (Python 3.9 or newer is needed): %v: %s", c.Python, err, msg)
	}
	if res.Error != "" {
		return CheckResult{}, &AppLoadError{Module: c.Module, Exception: res.Error, Traceback: res.Traceback}
	}
	return CheckResult{Python: res.Python, Executable: res.Executable, App: res.App}, nil
}
