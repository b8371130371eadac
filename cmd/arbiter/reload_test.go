package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/internal/proctest"
)

// HUP replaces every worker while keep-alive clients run, and not one
// request fails.
func TestHUPUnderLoadLosesNothing(t *testing.T) {
	f := start(t, basic)
	old := f.waitWorkers(2, 10*time.Second)
	l := startLoad(t, f.addr, 8)
	l.waitOK(t, 200)
	for round := 2; round <= 4; round++ {
		mark := f.srv.Count()
		f.srv.Signal(syscall.SIGHUP)
		f.srv.WaitEvent(mark, 30*time.Second, "generation "+strconv.Itoa(round)+" ready", func(e proctest.Event) bool {
			return e.Msg() == "generation ready" && e.Int("generation") == round
		})
		proctest.Eventually(t, 15*time.Second, "old workers gone", func() bool {
			for _, p := range old {
				if proctest.Alive(p) {
					return false
				}
			}
			return true
		})
		now := f.waitWorkers(2, 10*time.Second)
		for _, p := range now {
			if contains(old, p) {
				t.Fatalf("worker %d survived HUP", p)
			}
		}
		old = now
		served := l.ok.Load()
		l.waitOK(t, served+100)
	}
	l.check(t)
	if !l.gens[4] {
		t.Fatalf("no request served by generation 4: %v", l.gens)
	}
	if r := f.get("/"); r.Generation != 4 {
		t.Fatalf("served by generation %d after 3 HUPs", r.Generation)
	}
}

// A HUP with a broken config keeps the running generation and logs every
// problem with line:col.
func TestHUPWithBrokenConfigKeepsServing(t *testing.T) {
	f := start(t, basic)
	pids := f.waitWorkers(2, 10*time.Second)
	f.write("workers = \"many\"\nbogus = 1\n[[listen]]\naddress = \"{{addr}}\"\n")
	mark := f.srv.Count()
	f.srv.Signal(syscall.SIGHUP)
	var problems []string
	for range 2 {
		e, i := f.srv.WaitEvent(mark, 10*time.Second, "a reload problem", func(e proctest.Event) bool {
			return strings.HasPrefix(e.Msg(), "reload refused")
		})
		problems = append(problems, e.Str("problem"))
		mark = i + 1
	}
	joined := strings.Join(problems, "\n")
	if !strings.Contains(joined, "app.toml:1:11: workers") || !strings.Contains(joined, "app.toml:2:1: bogus") {
		t.Fatalf("problems do not name line:col and key:\n%s", joined)
	}
	time.Sleep(300 * time.Millisecond)
	if now := f.workers(); len(now) != 2 || !contains(now, pids[0]) || !contains(now, pids[1]) {
		t.Fatalf("workers changed after a refused reload: %v -> %v", pids, now)
	}
	if r := f.get("/"); r.Generation != 1 {
		t.Fatalf("generation %d", r.Generation)
	}
}

// max_requests recycles workers under load, each replacement ready before
// the old worker stops accepting: no request fails.
func TestMaxRequestsRecyclesWithoutFailures(t *testing.T) {
	f := start(t, `
workers = 2
max_requests = 100
max_requests_jitter = 20
[[listen]]
address = "{{addr}}"
`)
	l := startLoad(t, f.addr, 6)
	// Four recycles, whatever the time a replacement takes to boot here: a
	// worker retires only once its replacement is ready, so the later ones
	// are replacements that served their own max_requests.
	recycled := map[int]bool{}
	from := 0
	for len(recycled) < 4 {
		var e proctest.Event
		e, from = f.srv.WaitMsg(from, 60*time.Second, "worker to be recycled; starting its replacement")
		from++
		if r := e.Str("reason"); r != "max_requests" {
			t.Fatalf("worker %d recycled for %q, want max_requests", e.Int("worker_pid"), r)
		}
		recycled[e.Int("worker_pid")] = true
	}
	l.check(t)
	for pid := range recycled {
		if !l.pids[pid] {
			t.Errorf("worker %d reached max_requests but answered none of the load's requests", pid)
		}
	}
	f.waitWorkers(2, 10*time.Second)
}

// The listening sockets stay non-blocking in the master and in every worker
// (a blocking shared socket would stall accept in all of them).
func TestListenersStayNonBlocking(t *testing.T) {
	f := start(t, basic)
	workers := f.waitWorkers(2, 10*time.Second)
	ino := listenInode(t, f.addr)
	for _, pid := range append([]int{f.srv.PID}, workers...) {
		fds := socketFDs(t, pid, ino)
		if len(fds) == 0 {
			t.Fatalf("pid %d holds no fd of the listening socket", pid)
		}
		for _, fd := range fds {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/fdinfo/" + fd)
			if err != nil {
				t.Fatal(err)
			}
			flags := fdinfoFlags(t, string(b))
			if flags&syscall.O_NONBLOCK == 0 {
				t.Errorf("pid %d fd %s: flags %o lack O_NONBLOCK", pid, fd, flags)
			}
			if flags&syscall.O_CLOEXEC == 0 {
				t.Errorf("pid %d fd %s: flags %o lack O_CLOEXEC", pid, fd, flags)
			}
		}
	}
	f.get("/")
}

// listenInode finds the inode of the TCP socket listening on addr.
func listenInode(t *testing.T, addr string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.ToUpper(strconv.FormatInt(int64(p), 16))
	for len(want) < 4 {
		want = "0" + want
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], ":"+want) && f[3] == "0A" {
			return f[9]
		}
	}
	t.Fatalf("no listening socket on %s", addr)
	return ""
}

func socketFDs(t *testing.T, pid int, ino string) []string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if link, _ := os.Readlink(filepath.Join(dir, e.Name())); link == "socket:["+ino+"]" {
			out = append(out, e.Name())
		}
	}
	return out
}

func fdinfoFlags(t *testing.T, fdinfo string) int {
	for _, line := range strings.Split(fdinfo, "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatalf("no flags in fdinfo %q", fdinfo)
	return 0
}
