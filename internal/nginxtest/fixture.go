package nginxtest

import (
	"os"
	"strings"
	"testing"
	"time"
)

// EnvCI is the environment variable that turns a missing nginx from a skip
// into a failure.
const EnvCI = "CI"

// Require returns the nginx binary. When there is none it skips the test,
// or fails it when $CI is non-empty.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(EnvCI) != "" {
			t.Fatalf("nginx is required when $%s is set: %v", EnvCI, err)
		} else {
			t.Skipf("interop test needs nginx: %v", err)
		}
	}
	return bin
}

// Start launches nginx for cfg in a temporary directory (see Launch) and
// stops it when the test ends, failing the test if a process is left
// behind. When the test has failed, the error log is logged.
func Start(t testing.TB, cfg Config) *Nginx {
	t.Helper()
	Require(t)
	n, err := Launch(t.TempDir(), cfg)
	if err != nil {
		t.Fatalf("nginx: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Stop(10 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("nginx error log (%s):\n%s", n.ErrLog, tail(n.ErrorLog(), 16000))
		}
	})
	return n
}

// CheckErrors fails the test with every error-level line nginx logged
// after mark (see Mark), for example "upstream prematurely closed
// connection" or "upstream sent invalid header".
func (n *Nginx) CheckErrors(t testing.TB, mark int64) {
	t.Helper()
	if lines := n.ErrorsSince(mark); len(lines) > 0 {
		t.Errorf("nginx logged %d errors:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}
