package wsgi

import (
	"context"
	"testing"

	"github.com/arbiter-dev/arbiter/worker/cgivars"
)

// A front end's variable with a NUL in it cannot add variables of its own:
// cgivars keeps a REMOTE_ADDR that is not an IP address as it came, and
// environ used to fill REMOTE_ADDR and REMOTE_HOST from it. (Caught by
// FuzzEnvironCGI's whole-pairs invariant.)
func TestEnvironLeavesOutNUL(t *testing.T) {
	r, err := cgivars.NewRequest(context.Background(), map[string]string{
		"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "REMOTE_ADDR": "x\x00REMOTE_USER\x00admin",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := checkEnviron(t, "", r, 0)
	if u, ok := m["REMOTE_USER"]; ok {
		t.Errorf("REMOTE_USER %q came from REMOTE_ADDR", u)
	}
	if a, ok := m["REMOTE_ADDR"]; ok {
		t.Errorf("REMOTE_ADDR %q, want none", a)
	}
}
