package chaos

import (
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/bench/loadgen"
)

// A failure goes to the latest kill before it that held its port, also
// when a later victim holds the port again on a new connection.
func TestAttribute(t *testing.T) {
	kills := []kill{
		{pid: 1, at: time.Second, peers: []string{"127.0.0.1:1000", "127.0.0.1:1001"}},
		{pid: 2, at: 3 * time.Second, peers: []string{"127.0.0.1:1000"}}, // the port came back
	}
	fails := []loadgen.Failure{
		{At: 1100 * time.Millisecond, Kind: loadgen.FailReset, Local: "127.0.0.1:1000"},
		{At: 1100 * time.Millisecond, Kind: loadgen.FailEOF, Local: "127.0.0.1:1001"},
		{At: 3100 * time.Millisecond, Kind: loadgen.FailReset, Local: "127.0.0.1:1000"},
		{At: 500 * time.Millisecond, Kind: loadgen.FailReset, Local: "127.0.0.1:1001"},   // before any kill
		{At: 3200 * time.Millisecond, Kind: loadgen.FailStatus, Local: "127.0.0.1:1000"}, // not a cut
		{At: 3200 * time.Millisecond, Kind: loadgen.FailReset, Local: "127.0.0.1:2000"},  // no victim's
	}
	byKill, stray := attribute(fails, kills)
	if byKill[0] != 2 || byKill[1] != 1 || len(stray) != 3 {
		t.Fatalf("by kill %v, stray %+v", byKill, stray)
	}
}
