package wsgi

import "testing"

// A process that outlives exitGrace is killed by its pid, or, forked and
// never reported, with its zygote; never with a pid kill(2) takes for a
// process group (0) or for every process (-1).
func TestExitKillTarget(t *testing.T) {
	p := &pool{zyg: &zygote{pid: 4321}}
	noZygote := &pool{}
	for _, tc := range []struct {
		name string
		p    *pool
		pr   *proc
		want int
	}{
		{"direct", p, &proc{pid: 1234}, 1234},
		{"forked, reported", p, &proc{pid: 1234, forked: true}, 1234},
		{"forked, never reported", p, &proc{forked: true}, 4321},
		{"forked, never reported, no zygote", noZygote, &proc{forked: true}, 0},
		{"direct without a pid", p, &proc{}, 0},
		{"negative pid", p, &proc{pid: -1}, 0},
		{"forked, negative pid", noZygote, &proc{pid: -1, forked: true}, 0},
	} {
		if got, _ := tc.p.exitKillTargetLocked(tc.pr); got != tc.want {
			t.Errorf("%s: kill %d, want %d", tc.name, got, tc.want)
		}
	}
}
