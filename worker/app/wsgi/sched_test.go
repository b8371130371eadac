package wsgi

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// With SchedBatch every thread of every app process runs under
// SCHED_BATCH: the slot threads, the app's own thread started at import,
// and with preload the zygote (which keeps the app's thread) and the
// processes forked from it. Without it they keep the normal policy.
func TestSchedBatch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		batch, preload bool
		want           int
	}{
		{"batch", true, false, schedBatch},
		{"batch preload", true, true, schedBatch},
		{"normal", false, false, schedNormal},
		{"normal preload", false, true, schedNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, "threaded", func(c *Config) {
				c.SchedBatch, c.Preload, c.Threads = tc.batch, tc.preload, 2
			})
			// Two slots and the app's own thread; forked from a zygote, the
			// app's thread stays in the zygote.
			want := "3 threads\n"
			if tc.preload {
				want = "2 threads\n"
			}
			if _, body := a.get(t, "/"); body != want {
				t.Fatalf("body %q, want %q", body, want)
			}
			pids := a.pids()
			nproc := 2
			if tc.preload {
				nproc++ // the zygote
			}
			if len(pids) != nproc {
				t.Fatalf("%d processes %v, want %d", len(pids), pids, nproc)
			}
			for _, pid := range pids {
				// A process is ready once its first slot is; it starts the
				// thread of the second right after.
				var tasks []os.DirEntry
				waitFor(t, fmt.Sprintf("process %d's second thread", pid), func() bool {
					var err error
					if tasks, err = os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); err != nil {
						t.Fatal(err)
					}
					return len(tasks) >= 2
				})
				for _, task := range tasks {
					if p := schedPolicy(t, pid, task.Name()); p != tc.want {
						t.Errorf("process %d thread %s: policy %d, want %d", pid, task.Name(), p, tc.want)
					}
				}
			}
			if s := a.log.String(); strings.Contains(s, "SCHED_BATCH") {
				t.Errorf("log: %s", s)
			}
		})
	}
}

// Linux's scheduling policies (sched(7)).
const (
	schedNormal = 0
	schedBatch  = 3
)

// schedPolicy reads the policy of thread tid of pid: field 41 of its stat.
func schedPolicy(t *testing.T, pid int, tid string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, tid))
	if err != nil {
		t.Fatal(err)
	}
	// "pid (comm) state ...": the fields after the comm start at field 3.
	f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:])
	p, err := strconv.Atoi(string(f[41-3]))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
