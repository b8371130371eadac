package cmd

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/arbiter/config"
	"github.com/arbiter-dev/arbiter/arbiter/control"
	"github.com/arbiter-dev/arbiter/arbiter/master"
	"github.com/arbiter-dev/arbiter/arbiter/pidfile"
	"github.com/arbiter-dev/arbiter/worker"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{fmt.Errorf("%w: open x.toml: no such file or directory", config.ErrRead), ExitConfig},
		{errors.New("something"), ExitError},
		{usageError{errors.New("flag provided but not defined")}, ExitUsage},
		{config.Errors{{File: "a.toml", Line: 1, Col: 1, Key: "workers", Msg: "bad"}}, ExitConfig},
		{fmt.Errorf("%w: bind 127.0.0.1:80: permission denied", master.ErrListen), ExitListen},
		{fmt.Errorf("pidfile x: %w (pid 1)", pidfile.ErrRunning), ExitRunning},
		{fmt.Errorf("%w: 5 boot failures", master.ErrAppLoad), ExitAppLoad},
		{fmt.Errorf("%w: 5 boot failures", master.ErrWorkerBoot), ExitWorkerBoot},
		{fmt.Errorf("%w: static app: no such directory", worker.ErrAppLoad), ExitAppLoad},
		{wrapBoot(errors.New("no boot document")), ExitWorkerBoot},
		{loggedError{fmt.Errorf("%w: x", master.ErrListen)}, ExitListen},
		{commandFailed{errors.New("reload refused: config invalid")}, ExitFailed},
		{fmt.Errorf("%w on control socket /x: connection refused", control.ErrUnreachable), ExitNoMaster},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if ExitWorkerBoot != 3 || ExitAppLoad != 4 {
		t.Fatal("worker exit codes must stay gunicorn's 3 and 4 (docs/signals.md)")
	}
}

func TestNegativeScale(t *testing.T) {
	tests := []struct{ in, want string }{
		{"arbiter scale -2", "arbiter scale -- -2"},
		{"arbiter scale -c a.toml -1", "arbiter scale -c a.toml -- -1"},
		{"arbiter scale -1 -c a.toml", "arbiter scale -c a.toml -- -1"},
		{"arbiter scale +1", "arbiter scale +1"},
		{"arbiter status -c a.toml", "arbiter status -c a.toml"},
		{"arbiter scale -- -3", "arbiter scale -- -3"},
	}
	for _, tt := range tests {
		if got := strings.Join(negativeScale(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("%q → %q, want %q", tt.in, got, tt.want)
		}
	}
}
