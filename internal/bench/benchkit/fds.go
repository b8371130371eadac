package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/arbiter-dev/arbiter/internal/fds"
)

// CloseInherited makes the servers a benchmark starts get stdin, stdout,
// stderr and what they are handed, as under a service manager: it marks
// every descriptor the benchmark inherited above 2 close-on-exec. One
// inherited without the flag (a shell's, a CI runner's) would reach every
// server and everything a server forks, and a high one makes each such
// fork copy a larger descriptor table: fcgiwrap forks per request.
func CloseInherited() error { return fds.CloseOnExecAll() }

// Main runs a benchmark program once its flags are parsed: it calls
// CloseInherited (exit status 1 if that fails), then run with a context
// that ends on SIGINT or SIGTERM, and exits with the status run returns.
func Main(run func(ctx context.Context) int) {
	if err := CloseInherited(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := run(ctx)
	stop()
	os.Exit(status)
}
